"""Shared test fixtures: a clean environment, a private ADVISOR_HOME, no real network."""
from __future__ import annotations

import os
import shutil
import socket

import pytest

_LOOPBACK = ("127.", "::1", "localhost")


@pytest.fixture(scope="session")
def built_index(tmp_path_factory):
    """The knowledge index, built once per test session (embedding takes ~10 s)."""
    from agent.article.embeddings import LocalE5
    from agent.article.index import load_or_build
    from agent.article.source import load_article

    folder = tmp_path_factory.mktemp("index-seed")
    load_or_build(load_article(), LocalE5(), folder)
    return folder


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path, request):
    """Clear the host's advisor, OpenAI and Slack variables; point ADVISOR_HOME at tmp_path."""
    for name in list(os.environ):
        if name.startswith(("ADVISOR_", "OPENAI_", "SLACK_", "AZURE_OPENAI")):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "advisor-home"
    home.mkdir()
    monkeypatch.setenv("ADVISOR_HOME", str(home))
    if "no_index_seed" not in request.keywords:
        seed = request.getfixturevalue("built_index")
        shutil.copytree(seed, home / "index")
    yield home


@pytest.fixture(autouse=True)
def no_real_network(monkeypatch):
    """Fail any test that tries to reach a non-loopback address."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else str(address)
        if isinstance(host, str) and not host.startswith(_LOOPBACK) and self.family in (socket.AF_INET, socket.AF_INET6):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def advisor():
    """An offline Advisor using the test's ADVISOR_HOME."""
    from agent.api import Advisor
    from agent.settings import Settings

    return Advisor(Settings.from_env(), engine="offline")
