"""Fixtures for the Slack bot's tests: a clean environment, the fake Slack, the running bot.

The bot is the real Bolt app (`create_app`) served over HTTP on 127.0.0.1 by the production
server (`agent.fronts.slack.server`: uvicorn in a thread, on a random port); its Web API client
points at `FakeSlackAPI` through SLACK_API_BASE_URL. The knowledge index is built
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
import time

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


class RunningBot:
    """The Bolt app served by the production server (uvicorn + SlackASGI) on a random local port,
    and Slack's side of the conversation."""

    def __init__(self, app, settings: Settings, api: FakeSlackAPI, limits=None):
        from agent.fronts.slack.server import ServerLimits, SlackASGI

        self.app = app
        self.settings = settings
        self.api = api
        self.server = serve_in_thread(SlackASGI(app, SIGNING_SECRET, limits or ServerLimits()), limits)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/slack/events"
        self.slack = SlackSide(self.url, SIGNING_SECRET, api)

    def idle(self, timeout: float = 10.0) -> None:
        """Wait until every acknowledged request's work has finished."""
        from agent.fronts.slack.app import wait_idle

        assert wait_idle(self.app, timeout), f"the bot was still working after {timeout}s"

    def store(self):
        from agent.store.sessions import SessionStore

        return SessionStore(self.settings.db_path)

    def close(self, wait: bool = True) -> None:
        from agent.fronts.slack.app import close_app

        if wait:
            self.idle()
        stop_server(self.server)
        close_app(self.app, wait=wait)


def serve_in_thread(asgi, limits=None):
    """Start uvicorn (as `advisor slack` configures it) on 127.0.0.1, port 0, in a thread; wait until it listens."""
    from agent.fronts.slack.server import ServerLimits, make_server

    server = make_server(asgi, "127.0.0.1", 0, limits=limits or ServerLimits())
    server.config.lifespan = "off"
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    server._advisor_thread = thread
    return server


def stop_server(server) -> None:
    server.should_exit = True
    server._advisor_thread.join(10)


@pytest.fixture
def make_bot(settings, fake_api, shared_advisor):
    """Start the bot (optionally with another advisor); stopped at the end of the test."""
    from agent.fronts.slack.app import create_app

    bots: list[RunningBot] = []

    def start(advisor=None, limits=None) -> RunningBot:
        bot = RunningBot(create_app(settings, advisor or shared_advisor), settings, fake_api, limits)
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
