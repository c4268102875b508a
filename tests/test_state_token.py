"""Sealed interview state: round trip, tampering, foreign keys, hostile payloads, the key file."""
from __future__ import annotations

import base64
import zlib

import pytest

from agent.errors import UserError
from agent.store.state_token import PREFIX, _mac, load_key, seal, unseal
from agent.types import InterviewState

KEY = b"s" * 32


def forge(payload: bytes, key: bytes = KEY) -> str:
    """A token correctly signed around an arbitrary (compressed) payload."""
    body = base64.urlsafe_b64encode(zlib.compress(payload)).rstrip(b"=")
    return PREFIX + body.decode() + "." + base64.urlsafe_b64encode(_mac(key, body)).rstrip(b"=").decode()


def test_round_trip_keeps_the_whole_state():
    state = InterviewState(lang="zh", description="我们要做知识库问答", pending="model_adaptation",
                           skipped=["latency"])
    again = unseal(seal(state, KEY), KEY)
    assert again.model_dump() == state.model_dump()


@pytest.mark.parametrize("token", [
    None, 42, "", "iv1.", "iv1..", "iv1.abc", "iv1.abc.def", "iv1.%%%.***", "iv1.é.é", "x" * 300_000,
    forge(b'{"lang": "fr"}'),             # signed, but not a valid state
    forge(b"not json"),
    forge(b"[" * 10 + b"]" * 10),
    forge(b" " * 3_000_000),               # signed, but decompresses past the bound
])
def test_anything_not_sealed_unchanged_is_one_user_error(token):
    with pytest.raises(UserError, match="invalid or was altered"):
        unseal(token, KEY)


def test_a_foreign_key_is_refused():
    token = seal(InterviewState(description="a wiki bot"), KEY)
    with pytest.raises(UserError):
        unseal(token, b"o" * 32)


def test_a_valid_forged_payload_needs_the_key():
    good = forge(InterviewState(description="x").model_dump_json().encode())
    assert unseal(good, KEY).description == "x"
    with pytest.raises(UserError):
        unseal(good, b"o" * 32)


def test_key_file_is_private_and_stable(tmp_path):
    key = load_key(tmp_path / "home")
    assert len(key) == 32 and load_key(tmp_path / "home") == key
    assert (tmp_path / "home" / "interview-state.key").stat().st_mode & 0o777 == 0o600
    assert load_key(tmp_path / "other") != key
    assert list((tmp_path / "home").iterdir()) == [tmp_path / "home" / "interview-state.key"]
