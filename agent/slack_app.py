"""The Slack bot: the interview in a Slack thread, one-shot advice with `/advisor`.

Every request is acknowledged at once and the slow part (the advisor, the Web API calls)
runs afterwards in a lazy listener, so Slack's three seconds are always met. Each thread is a
session in the CLI's store (channel "slack", key "team:channel:thread_ts"), so threads of
different workspaces and channels never share one, and `advisor sessions list` shows them.
A retried event (same event_id) is dropped before any listener runs.
"""
from __future__ import annotations

import errno
import logging
import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator, Optional
from urllib.error import URLError

from pydantic import SecretStr
from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from . import slack_blocks as kit
from .api import Advisor
from .errors import UserError
from .sessions import SessionRecord, SessionStore
from .settings import Settings
from .types import InterviewState, Turn
from .wording import wording

log = logging.getLogger(__name__)

CHANNEL = "slack"
DEFAULT_API_BASE_URL = "https://slack.com/api/"
HANDLED_SUBTYPES = (None, "thread_broadcast", "file_share")  # user messages; edits, joins, bots are not
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<[!#][^>]*>")  # <!here>, <#C123|general>
_BLANKS = re.compile(r"[ \t\u00a0]+")
_HELP = {"", "help", "帮助", "?"}


def plain_text(text: str) -> str:
    """A Slack message's text as the user typed it: mentions gone, links and escapes undone."""
    text = _MENTION.sub(" ", text or "")
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _SPECIAL.sub(" ", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _BLANKS.sub(" ", text).strip()


def thread_key(team_id: Optional[str], channel_id: str, thread_ts: str) -> str:
    """The session key of a thread: workspace, channel and the thread's first message."""
    return f"{team_id or '-'}:{channel_id}:{thread_ts}"


class ListenerExecutor(ThreadPoolExecutor):
    """Bolt's listener executor, counting work in flight so shutdown and tests can wait for it."""

    def __init__(self, max_workers: int = 16):
        super().__init__(max_workers=max_workers, thread_name_prefix="advisor-slack")
        self._idle = threading.Condition()
        self._pending = 0

    def submit(self, fn, /, *args, **kwargs):
        with self._idle:
            self._pending += 1

        def run():
            try:
                return fn(*args, **kwargs)
            finally:
                self._done()

        try:
            return super().submit(run)
        except BaseException:
            self._done()
            raise

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once no listener work is queued or running; False if `timeout` passes first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)


def wait_idle(app: App, timeout: float = 10.0) -> bool:
    """Wait until the app has finished every acknowledged request's work."""
    executor = app.listener_runner.listener_executor
    return executor.wait_idle(timeout) if isinstance(executor, ListenerExecutor) else True


# --------------------------------------------------------------------------- the conversation

class SlackBot:
    """What the listeners do, apart from Bolt: sessions, the advisor, the messages."""

    def __init__(self, settings: Settings, advisor: Advisor):
        self.settings = settings
        self.advisor = advisor
        self.store = SessionStore(settings.db_path)
        self._locks = [threading.Lock() for _ in range(64)]
        self._warm = threading.Lock()

    def ready(self) -> None:
        """Build the advisor's index and engine once, not in several listener threads at a time."""
        with self._warm:
            self.advisor.index  # noqa: B018 - cached_property: built on first use
            self.advisor.engine  # noqa: B018

    def lock(self, key: str) -> threading.Lock:
        """One lock per thread key (striped), so two answers in a thread never race."""
        return self._locks[hash(key) % len(self._locks)]

    # ------------------------------------------------------------------ events
    def converse(self, client: WebClient, team: str, channel: str, thread_ts: str, text: str,
                 *, start: bool) -> None:
        """A message for the thread's interview: start one (if `start`) or take the answer."""
        key = thread_key(team, channel, thread_ts)
        self.ready()
        with self.lock(key):
            record = self.store.find(CHANNEL, key)
            if record is None and not start:
                return
            if record is None:
                if not text:
                    state = InterviewState()
                    self.store.create(state, CHANNEL, key)
                    self.post(client, channel, thread_ts, kit.escape(wording().replies[state.lang]["intro"]))
                    return
                state, turn = self.advisor.start_interview(text)
                sid = self.store.create(state, CHANNEL, key)
            else:
                sid, state = record.id, record.state
                if state.done:
                    self._finished(client, channel, thread_ts, state)
                    return
                if not text:
                    return
                if not state.history and not state.description:
                    state, turn = self.advisor.start_interview(text)
                else:
                    turn = self.advisor.reply(state, text)
                self.store.save(sid, state)
            self.post_turn(client, channel, thread_ts, sid, state, turn)

    def _finished(self, client: WebClient, channel: str, thread_ts: str, state: InterviewState) -> None:
        rec = state.recommendation
        name = wording().decision_names[state.lang][rec.decision] if rec else "-"
        self.post(client, channel, thread_ts, kit.labels(state.lang)["finished"].format(decision=kit.escape(name)))

    def post(self, client: WebClient, channel: str, thread_ts: Optional[str], text: str,
             blocks: Optional[list] = None) -> None:
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=kit.clip(text, 3000), blocks=blocks,
                                unfurl_links=False, unfurl_media=False)

    def post_turn(self, client: WebClient, channel: str, thread_ts: str, sid: str,
                  state: InterviewState, turn: Turn) -> None:
        if turn.kind == "question":
            self.post(client, channel, thread_ts, kit.escape(turn.text),
                      kit.question_blocks(turn, state.lang, step=len(state.history)))
        elif turn.kind == "recommendation" and turn.recommendation:
            rec = turn.recommendation
            prose = "".join(self.advisor.write_advice(rec))
            self.post(client, channel, thread_ts, kit.escape(kit.recommendation_text(rec)),
                      kit.recommendation_blocks(rec, sid, advice_text=prose))
        else:
            self.post(client, channel, thread_ts, kit.escape(turn.text))

    # ------------------------------------------------------------------ buttons
    def answer(self, client: WebClient, respond, team: str, body: dict, action: dict) -> None:
        """An answer button: the interview moves on and the question shows who answered what."""
        channel, thread_ts, message_ts = _where(body)
        dim, step = kit.parse_question_block(action.get("block_id", ""))
        user = (body.get("user") or {}).get("id", "")
        key = thread_key(team, channel, thread_ts)
        self.ready()
        with self.lock(key):
            record = self.store.find(CHANNEL, key)
            if record is None:
                respond(response_type="ephemeral", replace_original=False, text=kit.labels("en")["gone"])
                return
            sid, state = record.id, record.state
            if state.done or state.pending != dim or len(state.history) != step:
                respond(response_type="ephemeral", replace_original=False, text=kit.labels(state.lang)["stale"])
                return
            question = state.history[-1].question
            label = kit.answer_label(state.lang, dim, action.get("value", ""))
            client.chat_update(channel=channel, ts=message_ts, text=kit.escape(question),
                               blocks=kit.answered_blocks(question, label, user, state.lang))
            turn = self.advisor.reply(state, action.get("value", ""))
            self.store.save(sid, state)
            self.post_turn(client, channel, thread_ts, sid, state, turn)

    def owned(self, session_id: str, team: str, channel: str) -> Optional[SessionRecord]:
        """The session a button names, only if it belongs to this workspace and channel."""
        try:
            record = self.store.get(session_id)
        except UserError:
            return None
        if record.channel != CHANNEL or not (record.key or "").startswith(f"{team or '-'}:{channel}:"):
            return None
        return record if record.state.recommendation else None

    def why(self, client: WebClient, respond, team: str, body: dict, action: dict) -> None:
        """The "why?" button: the reason's full citation, in the thread (or to the clicker)."""
        channel, thread_ts, _ = _where(body)
        parsed = kit.parse_why_value(action.get("value", ""))
        record = self.owned(parsed[0], team, channel) if parsed else None
        rec = record.state.recommendation if record else None
        items = (rec.rationale if parsed[1] == "r" else rec.caveats) if rec else []
        if not parsed or parsed[2] >= len(items):
            respond(response_type="ephemeral", replace_original=False, text=kit.labels("en")["gone"])
            return
        reason = items[parsed[2]]
        blocks, text = kit.citation_blocks(reason, rec.lang), kit.escape(kit.citation_text(reason))
        if (body.get("container") or {}).get("is_ephemeral"):
            respond(response_type="ephemeral", replace_original=False, text=text, blocks=blocks)
        else:
            self.post(client, channel, thread_ts, text, blocks)

    def share(self, client: WebClient, respond, team: str, body: dict, action: dict) -> None:
        """"Share in channel": the one-shot advice posted for everyone, the private copy removed."""
        channel, _, _ = _where(body)
        user = (body.get("user") or {}).get("id", "")
        record = self.owned(action.get("value", ""), team, channel)
        if record is None:
            respond(response_type="ephemeral", replace_original=False, text=kit.labels("en")["gone"])
            return
        rec = record.state.recommendation
        blocks = kit.recommendation_blocks(rec, record.id, shared_by=user)
        text = kit.escape(kit.recommendation_text(rec))
        try:
            client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
        except SlackApiError as e:
            if e.response.get("error") not in ("not_in_channel", "channel_not_found"):
                raise
            # The bot is not a member (e.g. a DM or a channel it was never invited to):
            # the command's response_url can still post there.
            respond(response_type="in_channel", replace_original=False, text=text, blocks=blocks)
        respond(delete_original=True)

    # ------------------------------------------------------------------ slash command
    def one_shot(self, respond, team: str, channel: str, text: str) -> None:
        """/advisor DESCRIPTION: the advice, visible only to the caller, with a share button."""
        self.ready()
        rec = self.advisor.recommend(text)
        state = InterviewState(lang=rec.lang, description=text, profile=rec.profile, done=True, recommendation=rec)
        sid = self.store.create(state, CHANNEL, f"{team or '-'}:{channel}:cmd-{secrets.token_hex(6)}")
        prose = "".join(self.advisor.write_advice(rec))
        respond(response_type="ephemeral", text=kit.escape(kit.recommendation_text(rec)),
                blocks=kit.recommendation_blocks(rec, sid, advice_text=prose, shareable=True))

    # ------------------------------------------------------------------ errors
    def report(self, exc: Exception, tell: Callable[[str], object], lang: str = "en") -> None:
        """The edge: a UserError is shown as its one line; anything else is logged, and a short apology shown."""
        if isinstance(exc, UserError):
            message = str(exc)
            log.warning("told the Slack user: %s", message)  # may be the operator's to fix (e.g. a bad file)
        else:
            log.error("Slack handler failed: %s", exc, exc_info=exc)
            message = kit.labels(lang)["error"]
        try:
            tell(message)
        except Exception as e:  # noqa: BLE001 - the user cannot be told; the log has it
            log.warning("could not tell the user about an error: %s", e)


def _where(body: dict) -> tuple[str, str, str]:
    """(channel, thread_ts, message_ts) of the message a button sits on."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
    message_ts = container.get("message_ts") or message.get("ts", "")
    thread_ts = message.get("thread_ts") or container.get("thread_ts") or message_ts
    return channel, thread_ts, message_ts


def _is_from_bot(event: dict, bot_user_id: Optional[str]) -> bool:
    return bool(event.get("bot_id") or event.get("subtype") == "bot_message" or event.get("bot_profile")
                or not event.get("user") or event.get("user") == bot_user_id)


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


def create_app(settings: Settings, advisor: Optional[Advisor] = None, *, socket: bool = False) -> App:
    """The Bolt app with every listener; `socket=True` needs no signing secret (Socket Mode is not signed)."""
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
    bot = SlackBot(settings, advisor or Advisor(settings))
    with _without_bolt_token_warning():
        app = App(client=client, signing_secret=secret, token_verification_enabled=False,
                  process_before_response=False, listener_executor=ListenerExecutor(), name="advisor")

    def drop_retried_events(body, request, next):
        """Slack resends an event it thinks we missed (X-Slack-Retry-Num): answer it only once."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not bot.store.mark_event_seen(event_id):
            retry = (request.headers.get("x-slack-retry-num") or ["?"])[0]
            log.info("event %s already handled; Slack retry %s dropped", event_id, retry)
            return BoltResponse(status=200, body="")
        next()

    app.use(drop_retried_events)

    def acknowledge(ack):
        ack()

    def on_mention(event, context, client):
        if _is_from_bot(event, context.bot_user_id):
            return
        thread_ts = event.get("thread_ts") or event["ts"]
        try:
            bot.converse(client, context.team_id, event["channel"], thread_ts, plain_text(event.get("text", "")),
                         start=True)
        except Exception as exc:  # noqa: BLE001 - the edge
            bot.report(exc, lambda m: bot.post(client, event["channel"], thread_ts, kit.escape(m)))

    def on_message(event, context, client):
        if event.get("subtype") not in HANDLED_SUBTYPES or _is_from_bot(event, context.bot_user_id):
            return
        text, channel = event.get("text") or "", event["channel"]
        if event.get("channel_type") == "im":
            thread_ts, start = event.get("thread_ts") or event["ts"], True
        else:
            thread_ts, start = event.get("thread_ts"), False
            if not thread_ts or thread_ts == event.get("ts"):
                return  # a channel's top-level message: only a mention starts an interview
            if context.bot_user_id and f"<@{context.bot_user_id}" in text:
                return  # the app_mention event for this message does the work
        try:
            bot.converse(client, context.team_id, channel, thread_ts, plain_text(text), start=start)
        except Exception as exc:  # noqa: BLE001 - the edge
            bot.report(exc, lambda m: bot.post(client, channel, thread_ts, kit.escape(m)))

    app.event("app_mention")(ack=acknowledge, lazy=[on_mention])
    app.event("message")(ack=acknowledge, lazy=[on_message])

    def on_answer(body, action, context, client, respond):
        try:
            bot.answer(client, respond, context.team_id, body, action)
        except Exception as exc:  # noqa: BLE001 - the edge
            bot.report(exc, lambda m: respond(response_type="ephemeral", replace_original=False, text=m))

    def on_why(body, action, context, client, respond):
        try:
            bot.why(client, respond, context.team_id, body, action)
        except Exception as exc:  # noqa: BLE001 - the edge
            bot.report(exc, lambda m: respond(response_type="ephemeral", replace_original=False, text=m))

    def on_share(body, action, context, client, respond):
        try:
            bot.share(client, respond, context.team_id, body, action)
        except Exception as exc:  # noqa: BLE001 - the edge
            bot.report(exc, lambda m: respond(response_type="ephemeral", replace_original=False, text=m))

    app.action(re.compile(rf"^{kit.ANSWER_ACTION}:"))(ack=acknowledge, lazy=[on_answer])
    app.action(re.compile(rf"^{kit.WHY_ACTION}:"))(ack=acknowledge, lazy=[on_why])
    app.action(kit.SHARE_ACTION)(ack=acknowledge, lazy=[on_share])

    def ack_command(ack, command):
        if plain_text(command.get("text", "")).lower() in _HELP:
            ack(text=kit.labels("en")["usage"])  # ephemeral, at once; nothing else to do
        else:
            ack()

    def on_command(command, context, respond):
        text = plain_text(command.get("text", ""))
        if text.lower() in _HELP:
            return
        try:
            bot.one_shot(respond, context.team_id, command.get("channel_id", ""), text)
        except Exception as exc:  # noqa: BLE001 - the edge
            bot.report(exc, lambda m: respond(response_type="ephemeral", text=m))

    app.command("/advisor")(ack=ack_command, lazy=[on_command])
    return app


def serve(settings: Settings, port: int = 3000, socket: bool = False, engine: Optional[str] = None) -> None:
    """Run the bot: HTTP on `port` (Slack's Request URL: http://HOST:PORT/slack/events) or Socket Mode."""
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
    app = create_app(settings, advisor, socket=socket)  # settings and token checked before the slow part
    log.info("engine: %s; loading the knowledge index (built once, then cached in %s)",
             advisor.engine.name, settings.index_dir)
    advisor.index  # noqa: B018 - built now, not on the first user's message
    if socket:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        SocketModeHandler(app, app_token).start()
        return
    try:
        app.start(port=port)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} is already in use: pass another with --port") from None
        raise
