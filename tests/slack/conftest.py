"""Fixtures for the Slack bot's tests: a clean environment, the fake Slack, the running bot.

The bot is the real Bolt app (`create_app`) served over HTTP on 127.0.0.1 (Bolt's WSGI
`SlackRequestHandler` behind a threading wsgiref server on a random port); its Web API
client points at `FakeSlackAPI` through SLACK_API_BASE_URL. The knowledge index is built
once per test session and the one offline Advisor is shared; each test gets its own
ADVISOR_HOME (so its own session database).
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the helpers next to this file

from slack_fakes import BOT_TOKEN, SIGNING_SECRET, FakeSlackAPI, SlackSide, slack_settings  # noqa: E402

from agent.settings import Settings  # noqa: E402


@pytest.fixture(autouse=True)
def slack_clean_env(monkeypatch, tmp_path):
    """No host SLACK_* (or advisor/OpenAI) variable leaks into a test; ADVISOR_HOME is private."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "ADVISOR_", "OPENAI_", "AZURE_OPENAI")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ADVISOR_HOME", str(tmp_path / "slack-home"))


@pytest.fixture(scope="session")
def shared_advisor(request, tmp_path_factory):
    """One offline Advisor for the session; its index is built once (or copied from `built_index`)."""
    from agent.api import Advisor

    home = tmp_path_factory.mktemp("slack-advisor")
    try:
        seed = request.getfixturevalue("built_index")  # the suite-wide prebuilt index, when there is one
        shutil.copytree(seed, home / "index")
    except pytest.FixtureLookupError:
        pass
    advisor = Advisor(Settings.from_env(env={"ADVISOR_HOME": str(home)}), engine="offline")
    advisor.index  # noqa: B018 - build (or load) it now, once
    return advisor


@pytest.fixture
def fake_api():
    with FakeSlackAPI(BOT_TOKEN) as api:
        yield api


@pytest.fixture
def settings(tmp_path, fake_api) -> Settings:
    return slack_settings(tmp_path / "slack-home", fake_api.api_url)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class RunningBot:
    """The Bolt app serving HTTP on a random local port, and Slack's side of the conversation."""

    def __init__(self, app, settings: Settings, api: FakeSlackAPI):
        from slack_bolt.adapter.wsgi import SlackRequestHandler

        self.app = app
        self.settings = settings
        self.api = api
        self._server = make_server("127.0.0.1", 0, SlackRequestHandler(app), server_class=_ThreadingWSGIServer,
                                   handler_class=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/slack/events"
        self.slack = SlackSide(self.url, SIGNING_SECRET, api)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def idle(self, timeout: float = 10.0) -> None:
        """Wait until every acknowledged request's work (lazy listeners) has finished."""
        from agent.slack_app import wait_idle

        assert wait_idle(self.app, timeout), f"the bot was still working after {timeout}s"

    def store(self):
        from agent.sessions import SessionStore

        return SessionStore(self.settings.db_path)

    def close(self) -> None:
        self.idle()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def make_bot(settings, fake_api, shared_advisor):
    """Start the bot (optionally with another advisor); stopped at the end of the test."""
    from agent.slack_app import create_app

    bots: list[RunningBot] = []

    def start(advisor=None) -> RunningBot:
        bot = RunningBot(create_app(settings, advisor or shared_advisor), settings, fake_api)
        bots.append(bot)
        return bot

    yield start
    for bot in bots:
        bot.close()


@pytest.fixture
def bot(make_bot) -> RunningBot:
    return make_bot()


@pytest.fixture(autouse=True)
def no_slack_errors_or_secrets_logged(caplog):
    """Fail a test whose bot logged an error (a crashed listener) or a token or secret."""
    caplog.set_level(logging.DEBUG)
    yield
    text = caplog.text
    assert BOT_TOKEN not in text and SIGNING_SECRET not in text, "a secret reached the logs"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith(("agent", "slack_bolt"))]
    assert not errors, "the bot logged errors:\n" + "\n".join(r.getMessage() for r in errors)
