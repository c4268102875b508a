"""The Slack bot: the interview in a Slack thread, one-shot advice with `/advisor`.

Every request the bot works on is committed to a durable inbox in the session store, then
acknowledged, then worked from the store (`slack_inbox`), so Slack's three seconds are met and
a crash or restart finishes what was acknowledged; a retried event (same event_id) is
acknowledged and nothing more. Each thread is a session in the CLI's store (channel "slack",
key "team:channel:thread_ts"), so threads of different workspaces and channels never share
one, and `advisor sessions list` shows them. This module wires the Bolt app; the conversation
is `slack_bot`, and over HTTP the app runs under uvicorn (`slack_server`).
"""
from __future__ import annotations

import json
import logging
import weakref
from contextlib import contextmanager
from typing import Iterator, Optional
from urllib.error import URLError

from pydantic import SecretStr
from slack_bolt import App, BoltResponse
from slack_bolt.middleware.assistant import Assistant
from slack_bolt.middleware.custom_middleware import CustomMiddleware
from slack_bolt.request.payload_utils import (is_assistant_event, is_assistant_thread_context_changed_event,
                                              is_assistant_thread_started_event,
                                              is_user_message_event_in_assistant_thread)
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ...api import slack_kit as kit
from ...api import Advisor
from ...errors import UserError
from ...api import Settings
from .bot import CHANNEL, HANDLED_SUBTYPES, SlackBot, help_text, plain_text, thread_key
from .inbox import InboxWorker, classify, stored_body
from .server import PATH, ServerLimits, SlackASGI, make_server

log = logging.getLogger(__name__)

__all__ = ["CHANNEL", "HANDLED_SUBTYPES", "SlackBot", "close_app", "create_app", "plain_text", "serve",
           "thread_key", "wait_idle"]
DEFAULT_API_BASE_URL = "https://slack.com/api/"


# --------------------------------------------------------------------------- the app

def _secret(value: Optional[SecretStr], name: str, hint: str) -> str:
    token = value.get_secret_value().strip() if value else ""
    if not token:
        raise UserError(f"{name} is not set: {hint}")
    return token


def _api_base_url(settings: Settings) -> str:
    url = settings.slack_api_base_url or DEFAULT_API_BASE_URL
    return url if url.endswith("/") else url + "/"


@contextmanager
def _without_bolt_token_warning() -> Iterator[None]:
    """Bolt reads SLACK_BOT_TOKEN itself and warns that our `client` wins over it; that is the intent."""
    bolt_log = logging.getLogger("slack_bolt.App")
    quiet = _DropMessage("`token` will be unused")
    bolt_log.addFilter(quiet)
    try:
        yield
    finally:
        bolt_log.removeFilter(quiet)


class _DropMessage(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def _check_token(client: WebClient, base_url: str) -> dict:
    """auth.test, with failures as one line that never contains the token."""
    try:
        return client.auth_test().data
    except SlackApiError as e:
        raise UserError(f"Slack refused SLACK_BOT_TOKEN ({e.response.get('error', 'error')}): "
                        "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page") from None
    except (URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise UserError(f"cannot reach the Slack Web API at {base_url} ({reason}); "
                        "check the network or SLACK_API_BASE_URL") from None


_WORKERS: "weakref.WeakKeyDictionary[App, InboxWorker]" = weakref.WeakKeyDictionary()


def create_app(settings: Settings, advisor: Optional[Advisor] = None, *, socket: bool = False,
               recover: bool = True) -> App:
    """The Bolt app: every request it works on is stored, acknowledged, then worked from the store.

    `socket=True` needs no signing secret (Socket Mode is not signed). `recover` queues the
    requests a previous run acknowledged but did not finish.
    """
    token = _secret(settings.slack_bot_token, "SLACK_BOT_TOKEN",
                    "export the app's Bot User OAuth Token (xoxb-…), see slack/manifest.yaml")
    secret = "" if socket and not settings.slack_signing_secret else _secret(
        settings.slack_signing_secret, "SLACK_SIGNING_SECRET",
        "export the Signing Secret from the app's Basic Information page (or use --socket)")
    base_url = _api_base_url(settings)
    client = WebClient(token=token, base_url=base_url)
    identity = _check_token(client, base_url)
    log.info("Slack: signed in as %s (%s) in team %s", identity.get("user"), identity.get("user_id"),
             identity.get("team_id"))
    bot = SlackBot(settings, advisor or Advisor(settings), client, identity.get("user_id"))
    # The offline engine is CPU-bound (more threads than cores only slow the acks); the LLM
    # engine mostly waits on its endpoint, so more turns may be in flight.
    llm = bot.advisor.engine_choice == "llm" or (bot.advisor.engine_choice == "auto" and settings.llm_configured)
    worker = InboxWorker(bot.store, bot.run_item, max_workers=16 if llm else 4)
    with _without_bolt_token_warning():
        app = App(client=client, signing_secret=secret, token_verification_enabled=False,
                  process_before_response=False, name="advisor")
    _WORKERS[app] = worker

    def store_then_ack(body, request, next):
        """The ack: 200 only once the request is committed to the inbox; the work comes after."""
        if is_assistant_event(body):
            return next() if _assistant_work(body) else BoltResponse(status=200, body="")
        found = classify(body)
        if found is None:
            if body.get("type") == "event_callback":
                return BoltResponse(status=200, body="")  # an event we do not work on: acknowledged
            return next()
        item_id, kind = found
        if kind == "command" and help_text(body.get("text", "")):
            return BoltResponse(status=200, body=json.dumps({"text": kit.labels("en")["usage"]}),
                                headers={"content-type": "application/json;charset=utf-8"})
        if kind == "command" and body.get("command") != "/advisor":
            return next()
        if not bot.store.inbox_add(item_id, kind, stored_body(body)):
            retry = (request.headers.get("x-slack-retry-num") or ["?"])[0]
            log.info("%s already received; Slack retry %s acknowledged only", item_id, retry)
            return BoltResponse(status=200, body="")
        worker.submit(item_id)
        return BoltResponse(status=200, body="")

    app.use(store_then_ack)
    app.assistant(_assistant(bot, worker))
    if recover:
        worker.recover()
    return app


def _assistant_work(body: dict) -> bool:
    """An assistant-thread event the Assistant middleware's listeners take (others, such as the
    bot's own replies, are only acknowledged)."""
    return (is_assistant_thread_started_event(body) or is_assistant_thread_context_changed_event(body)
            or is_user_message_event_in_assistant_thread(body))


def _assistant(bot: SlackBot, worker: InboxWorker) -> Assistant:
    """Bolt's Assistant middleware, routing the AI-app thread's events into the durable inbox.

    Its listener middleware stores the event before Bolt acknowledges it (a retry stops there);
    the listener, run after the ack, hands the stored item to the worker.
    """
    assistant = Assistant(app_name="advisor")

    def durable(body, context, request, next):
        item_id = f"event:{body.get('event_id')}"
        if not bot.store.inbox_add(item_id, "assistant", stored_body(body)):
            retry = (request.headers.get("x-slack-retry-num") or ["?"])[0]
            log.info("%s already received; Slack retry %s acknowledged only", item_id, retry)
            return BoltResponse(status=200, body="")
        context["inbox_item"] = item_id
        next()

    def work(context):
        worker.submit(context["inbox_item"])

    def store(func):
        return [CustomMiddleware(app_name="advisor", func=func)]

    assistant.thread_started(middleware=store(durable))(work)
    assistant.user_message(middleware=store(durable))(work)
    # The thread's context (the channel the user is viewing) does not change the advice: the
    # event is acknowledged and not stored (Bolt's default would write it to message metadata).
    assistant.thread_context_changed(lambda: None)
    return assistant


def wait_idle(app: App, timeout: float = 10.0) -> bool:
    """Wait until the app has finished every acknowledged request's work."""
    worker = _WORKERS.get(app)
    return worker.wait_idle(timeout) if worker else True


def close_app(app: App, wait: bool = True) -> None:
    """Stop the app's inbox worker (unfinished requests stay stored for the next start)."""
    worker = _WORKERS.pop(app, None)
    if worker:
        worker.close(wait=wait)


def serve(settings: Settings, port: int = 3000, socket: bool = False, engine: Optional[str] = None,
          host: str = "127.0.0.1", limits: Optional[ServerLimits] = None) -> None:
    """Run the bot: HTTP on host:port (Slack's Request URL: http://HOST:PORT/slack/events) or Socket Mode."""
    app_token = None
    if socket:
        app_token = _secret(settings.slack_app_token, "SLACK_APP_TOKEN",
                            "--socket needs an app-level token (xapp-…) with the connections:write scope")
        if not app_token.startswith("xapp-"):
            raise UserError("SLACK_APP_TOKEN must be an app-level token (starting xapp-), "
                            "from the app's Basic Information page, with the connections:write scope")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.DEBUG if settings.debug else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    advisor = Advisor(settings, engine=engine)
    # Settings and token are checked before the slow part; the index is loaded before the
    # unfinished requests of a previous run are worked on.
    app = create_app(settings, advisor, socket=socket, recover=False)
    log.info("engine: %s; loading the knowledge index (built once, then cached in %s)",
             advisor.engine.name, settings.index_dir)
    advisor.index  # noqa: B018 - built now, not on the first user's message
    _WORKERS[app].recover()
    try:
        if socket:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            SocketModeHandler(app, app_token).start()
            return
        _serve_http(app, settings, host, port, limits or ServerLimits())
    finally:
        close_app(app, wait=False)


def _serve_http(app: App, settings: Settings, host: str, port: int, limits: ServerLimits) -> None:
    secret = settings.slack_signing_secret.get_secret_value().strip()
    server = make_server(SlackASGI(app, secret, limits), host, port, limits=limits, log_level="info")
    log.info("Slack events at http://%s:%d%s", host, port, PATH)
    try:
        server.run()
    except SystemExit as e:  # uvicorn exits (code 1) when it cannot bind
        if e.code:
            raise UserError(f"cannot listen on {host}:{port} (in use, or not an address of this machine): "
                            "pass another --port or --host") from None
        raise
