"""Opaque interview state for stateless front-ends: serialised, compressed, base64, HMAC-checked.

A host relays the token between turns and can neither read nor alter it usefully: a token that
was changed, truncated, or sealed under another key is a one-line UserError, never a traceback.
The key lives in ADVISOR_HOME (created on first use, readable by its owner only), so a token
survives a server restart.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import zlib
from pathlib import Path

from pydantic import ValidationError

from ..errors import UserError
from ..types import InterviewState

PREFIX = "iv1."
KEY_FILE = "interview-state.key"
MAX_TOKEN_CHARS = 200_000
MAX_STATE_BYTES = 2_000_000  # decompressed: a bound against zip bombs
_BAD = "the interview state is invalid or was altered: pass back the state exactly as returned, or start over without one"


def load_key(home: Path) -> bytes:
    """The HMAC key under `home`, created (0600) on first use."""
    path = Path(home) / KEY_FILE
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
    try:  # two servers starting at once: the first key written wins, both use it
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()[:16]


def seal(state: InterviewState, key: bytes) -> str:
    """The state as an opaque token."""
    raw = zlib.compress(state.model_dump_json().encode("utf-8"), 9)
    body = base64.urlsafe_b64encode(raw).rstrip(b"=")
    mac = base64.urlsafe_b64encode(_mac(key, body)).rstrip(b"=")
    return PREFIX + body.decode("ascii") + "." + mac.decode("ascii")


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unseal(token: object, key: bytes) -> InterviewState:
    """The state inside a token; anything not sealed by `key` unchanged is a UserError."""
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > MAX_TOKEN_CHARS:
        raise UserError(_BAD)
    body, _, mac = token[len(PREFIX):].partition(".")
    try:
        if not hmac.compare_digest(_b64(mac), _mac(key, body.encode("ascii"))):
            raise UserError(_BAD)
        d = zlib.decompressobj()
        raw = d.decompress(_b64(body), MAX_STATE_BYTES)
        if d.unconsumed_tail or not d.eof:
            raise UserError(_BAD)
        return InterviewState.model_validate_json(raw)
    except (binascii.Error, ValueError, UnicodeEncodeError, zlib.error, ValidationError):
        raise UserError(_BAD) from None
