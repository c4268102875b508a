"""Fixtures for the LLM tests: a clean environment, the fake server, cassettes, no network.

Cassettes replay by default (record mode "none"). To re-record them:

    ADVISOR_RECORD=1 pytest tests/llm                       # against the local fake server
    ADVISOR_RECORD=1 OPENAI_BASE_URL=… OPENAI_API_KEY=… pytest tests/llm   # against a real one

With a real endpoint only the tests that use the `endpoint` fixture talk to it; scripted
failures (429, 500, HTML, refusal…) are always recorded against the fake server.
"""
from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the helpers next to this file

from fake_openai import FakeOpenAI  # noqa: E402
from llm_fakes import CASSETTES, TEST_KEY  # noqa: E402

from agent.settings import Settings  # noqa: E402

# Read before any fixture clears the environment.
RECORD = os.environ.get("ADVISOR_RECORD") == "1"
REAL = {k: os.environ.get(k) for k in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "ADVISOR_MODEL",
                                       "ADVISOR_EMBEDDING_MODEL")}
USE_REAL = RECORD and bool(REAL["OPENAI_API_KEY"] or REAL["OPENAI_BASE_URL"])
SECRET_HEADERS = ["authorization", "api-key", "openai-organization", "openai-project", "cookie"]
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


# --------------------------------------------------------------------------- isolation

def pytest_collection_modifyitems(config, items):
    """These tests need no knowledge index: skip the shared conftest's index seeding."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.no_index_seed)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No host settings leak in, state lives in tmp_path, and only loopback is reachable."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "ADVISOR_", "AZURE_OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path / "home"))
    violations: list[str] = []
    if not USE_REAL:
        _guard_network(monkeypatch, violations)
    yield
    assert not violations, f"a test tried to reach the network: {violations}"


def _guard_network(monkeypatch, violations: list[str]) -> None:
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in _LOOPBACK:
            violations.append(str(address[0]))
            raise ConnectionRefusedError("network disabled in tests")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and str(host) not in _LOOPBACK:
            violations.append(str(host))
            raise socket.gaierror("network disabled in tests")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


# --------------------------------------------------------------------------- endpoints

@pytest.fixture
def fake():
    """The local OpenAI-shaped server; only TEST_KEY is accepted."""
    with FakeOpenAI(api_key=TEST_KEY) as server:
        yield server


@dataclass
class Endpoint:
    url: str
    key: str
    model: str
    embedding_model: str
    real: bool
    fake: FakeOpenAI


@pytest.fixture
def endpoint(fake) -> Endpoint:
    """A real endpoint while re-recording with OPENAI_* set, else the fake server."""
    if USE_REAL:
        return Endpoint(REAL["OPENAI_BASE_URL"] or "https://api.openai.com/v1",
                        REAL["OPENAI_API_KEY"] or "", REAL["ADVISOR_MODEL"] or "gpt-4o-mini",
                        REAL["ADVISOR_EMBEDDING_MODEL"] or "text-embedding-3-small", True, fake)
    return Endpoint(fake.url, TEST_KEY, "gpt-4o-mini", "text-embedding-3-small", False, fake)


def make_settings(url: str, key: Optional[str] = TEST_KEY, *, tmp: Path, **overrides: Any) -> Settings:
    values = dict(home=tmp / "home", engine="llm", openai_api_key=key, openai_base_url=url,
                  llm_timeout=5.0, llm_deadline=20.0)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings_for(tmp_path):
    """settings_for(url, key=TEST_KEY, **overrides) -> Settings for the LLM engine."""
    return lambda url, key=TEST_KEY, **kw: make_settings(url, key, tmp=tmp_path, **kw)


@pytest.fixture
def sleeps() -> "Sleeps":
    return Sleeps()


class Sleeps(list):
    """A stand-in for time.sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --------------------------------------------------------------------------- cassettes

@dataclass
class Sent:
    method: str
    path: str
    json: Any
    headers: dict


@dataclass
class Wire:
    """What the code under test put on the wire (recorded or replayed alike)."""

    sent: list[Sent] = field(default_factory=list)

    def chats(self) -> list[dict]:
        return [s.json for s in self.sent if s.path.endswith("/chat/completions")]


def _api_path(uri: str) -> str:
    path = uri.split("?", 1)[0]
    for known in ("chat/completions", "embeddings", "models"):
        if path.rstrip("/").endswith(known):
            return known
    return path


def _same_api_path(r1, r2) -> None:
    # Host and port differ between recording (random port, or a real host) and replay.
    assert _api_path(r1.uri) == _api_path(r2.uri)


def _scrub_response(response: dict) -> dict:
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in ("set-cookie", "openai-organization", "openai-project"):
            del headers[name]
    return response


def _vcr():
    import vcr

    v = vcr.VCR(cassette_library_dir=str(CASSETTES), record_mode="all" if RECORD else "none",
                match_on=["method", "api_path"], filter_headers=SECRET_HEADERS,
                before_record_response=_scrub_response, decode_compressed_response=True)
    v.register_matcher("api_path", _same_api_path)
    return v


@pytest.fixture
def cassette(request):
    """Replay (or with ADVISOR_RECORD=1 record) tests/llm/cassettes/<test name>.yaml."""
    yield from use_cassette(f"{request.node.name}.yaml")


def use_cassette(name: str):
    """Replay (or record) one cassette; yields the Wire of what the code sent."""
    import httpx2

    if not RECORD and not (CASSETTES / name).exists():
        pytest.fail(f"cassette {name} is missing: record it with ADVISOR_RECORD=1 pytest tests/llm")
    wire = Wire()
    with _vcr().use_cassette(name) as cass:
        # Installed inside the cassette so it sees replayed requests too; undone first.
        inner = httpx2.HTTPTransport.handle_request

        def spy(transport, req):
            body = req.read()
            wire.sent.append(Sent(req.method, req.url.path, json.loads(body) if body else None,
                                  dict(req.headers)))
            return inner(transport, req)

        httpx2.HTTPTransport.handle_request = spy
        try:
            yield wire
        finally:
            httpx2.HTTPTransport.handle_request = inner
        if not RECORD:
            assert cass.all_played, f"{name}: the code made fewer calls than were recorded"
