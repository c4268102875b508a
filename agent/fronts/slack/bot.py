"""The Slack bot's conversation: what it does with a stored request (sessions, the advisor, replies).

Apart from Bolt: `slack_app` wires this into the Bolt app and the durable inbox (`slack_inbox`)
calls `SlackBot.run_item` for each stored request.
"""
from __future__ import annotations

import logging
import re
import secrets
import threading
from typing import Callable, Optional
from urllib.error import URLError

from slack_bolt.context.respond import Respond
from slack_bolt.context.set_status import SetStatus
from slack_bolt.context.set_suggested_prompts import SetSuggestedPrompts
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ...api import slack_kit as kit
from ...api import Advisor
from ...errors import UserError
from ...api import InboxItem, SessionRecord, SessionStore
from ...api import Settings
from ...api import detect_lang
from ...types import InterviewState, Turn
from ...api import wording

log = logging.getLogger(__name__)

CHANNEL = "slack"
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


def help_text(text: str) -> bool:
    """Is this /advisor text a request for the usage line (empty, help, 帮助, ?)?"""
    return plain_text(text).lower() in _HELP


def thread_key(team_id: Optional[str], channel_id: str, thread_ts: str) -> str:
    """The session key of a thread: workspace, channel and the thread's first message."""
    return f"{team_id or '-'}:{channel_id}:{thread_ts}"


# --------------------------------------------------------------------------- replies

def _post(channel: str, thread_ts: Optional[str], text: str, blocks: Optional[list] = None) -> dict:
    return {"call": "post", "channel": channel, "thread_ts": thread_ts, "text": kit.clip(text, 3000),
            "blocks": blocks}


def _respond(**kwargs) -> dict:
    return {"call": "respond", **kwargs}


# --------------------------------------------------------------------------- the conversation

class SlackBot:
    """What the bot does with a stored request: sessions, the advisor, the replies.

    Each handler works out its replies (JSON-able dicts) and commits them together with the
    session change (`SessionStore.commit_turn`); `deliver` then posts them. So a crash after
    the commit posts the same replies on restart and never runs the turn twice.
    """

    def __init__(self, settings: Settings, advisor: Advisor, client: WebClient, bot_user_id: Optional[str] = None):
        self.settings = settings
        self.advisor = advisor
        self.client = client
        self.bot_user_id = bot_user_id
        self.store = SessionStore(settings.db_path)
        self._locks = [threading.Lock() for _ in range(64)]
        self._warm = threading.Lock()

    def ready(self) -> None:
        """Build the advisor's index and engine once, not in several worker threads at a time."""
        with self._warm:
            self.advisor.index  # noqa: B018 - cached_property: built on first use
            self.advisor.engine  # noqa: B018

    def lock(self, key: str) -> threading.Lock:
        """One lock per thread key (striped), so two answers in a thread never race."""
        return self._locks[hash(key) % len(self._locks)]

    # ------------------------------------------------------------------ the inbox's entry point
    def run_item(self, item: InboxItem) -> None:
        """Work on one stored request (called by the InboxWorker)."""
        if item.status == "answered":  # the turn is saved; only (some of) its replies are missing
            if item.sent < len(item.outbox) and self._already_posted(item, item.outbox[item.sent]):
                item.sent += 1  # posted just before the crash, not yet marked
            self.deliver(item, item.outbox)
            return
        body = item.body
        team = body.get("team_id") or (body.get("team") or {}).get("id")
        try:
            if item.kind == "event":
                self.on_event(item, team, body.get("event") or {})
            elif item.kind == "action":
                self.on_action(item, team, body)
            elif item.kind == "command":
                self.one_shot(item, team, body)
            elif item.kind == "assistant":
                self.on_assistant(item, team, body.get("event") or {})
            else:
                self.store.inbox_finish(item.id)
        except Exception as exc:  # noqa: BLE001 - the edge: tell the user, log the rest
            self.report(exc, self._teller(item))
            self.store.inbox_finish(item.id)

    def _teller(self, item: InboxItem) -> Callable[[str], object]:
        body = item.body
        if item.kind == "event":
            event = body.get("event") or {}
            return lambda m: self._send(body, _post(event.get("channel", ""), event.get("thread_ts") or event.get("ts"),
                                                    kit.escape(m)))
        return lambda m: self._send(body, _respond(response_type="ephemeral", replace_original=False, text=m))

    def commit(self, item: InboxItem, replies: list[dict], **session) -> None:
        """Save the turn and its replies in one transaction, then post the replies."""
        self.store.commit_turn(item.id, replies, **session)
        self.deliver(item, replies)

    def deliver(self, item: InboxItem, replies: list[dict]) -> None:
        """Post the replies not yet posted, recording each, then mark the item done."""
        for n in range(item.sent, len(replies)):
            try:
                self._send(item.body, replies[n])
            except SlackApiError as e:  # Slack refused this one for good (e.g. channel_not_found)
                log.warning("Slack refused a reply (%s); going on", e.response.get("error", "error"))
            self.store.inbox_sent(item.id, n + 1)
            item.sent = n + 1
        self.store.inbox_finish(item.id)

    def _already_posted(self, item: InboxItem, reply: dict) -> bool:
        """Best effort: is this thread reply in the thread already, newer than the request?

        A crash between posting and recording it would otherwise post it twice on restart.
        Needs the history scopes; without them (or for other replies) it answers False.
        """
        if reply.get("call") != "post" or not reply.get("thread_ts"):
            return False
        event = item.body.get("event") or {}
        oldest = event.get("ts") or ((item.body.get("actions") or [{}])[0].get("action_ts")) or "0"
        try:
            found = self.client.conversations_replies(channel=reply["channel"], ts=reply["thread_ts"],
                                                      oldest=str(oldest), limit=200)
        except SlackApiError:
            return False
        return any((m.get("bot_id") or m.get("user") == self.bot_user_id) and m.get("text") == reply["text"]
                   for m in found.get("messages") or [])

    def _send(self, body: dict, reply: dict) -> None:
        call = reply["call"]
        args = {k: v for k, v in reply.items() if k != "call"}
        if call == "post":
            self.client.chat_postMessage(**args, unfurl_links=False, unfurl_media=False)
        elif call == "update":
            self.client.chat_update(**args)
        elif call == "respond":
            Respond(response_url=body.get("response_url"))(**args)
        elif call == "share":
            self._share(body, args)
        elif call == "prompts":
            SetSuggestedPrompts(self.client, args["channel"], args["thread_ts"])(args["prompts"], title=args["title"])
        else:  # pragma: no cover - replies are made in this module
            raise ValueError(f"unknown reply {call!r}")

    def _share(self, body: dict, args: dict) -> None:
        respond = Respond(response_url=body.get("response_url"))
        try:
            self.client.chat_postMessage(channel=args["channel"], text=args["text"], blocks=args["blocks"],
                                         unfurl_links=False)
        except SlackApiError as e:
            if e.response.get("error") not in ("not_in_channel", "channel_not_found"):
                raise
            # The bot is not a member (e.g. a DM or a channel it was never invited to):
            # the command's response_url can still post there.
            respond(response_type="in_channel", replace_original=False, text=args["text"], blocks=args["blocks"])
        respond(delete_original=True)

    # ------------------------------------------------------------------ events
    def on_event(self, item: InboxItem, team: Optional[str], event: dict) -> None:
        """A mention starts (or continues) a thread's interview; a thread reply answers it."""
        if _is_from_bot(event, self.bot_user_id):
            self.store.inbox_finish(item.id)
            return
        text, channel = event.get("text") or "", event.get("channel", "")
        if event.get("type") == "app_mention":
            self.converse(item, team, channel, event.get("thread_ts") or event["ts"], plain_text(text), start=True)
            return
        if event.get("subtype") not in HANDLED_SUBTYPES:
            self.store.inbox_finish(item.id)
            return
        if event.get("channel_type") == "im":
            thread_ts, start = event.get("thread_ts") or event["ts"], True
        else:
            thread_ts, start = event.get("thread_ts"), False
            mentioned = self.bot_user_id and f"<@{self.bot_user_id}" in text
            if not thread_ts or thread_ts == event.get("ts") or mentioned:
                # A channel's top-level message: only a mention starts an interview (and the
                # app_mention event for a mentioning message does the work).
                self.store.inbox_finish(item.id)
                return
        self.converse(item, team, channel, thread_ts, plain_text(text), start=start)

    # ------------------------------------------------------------------ the assistant surface
    def on_assistant(self, item: InboxItem, team: Optional[str], event: dict) -> None:
        """Slack's AI-app thread: greet with suggested prompts; run the interview on each message."""
        if event.get("type") == "assistant_thread_started":
            thread = event.get("assistant_thread") or {}
            channel, thread_ts = thread.get("channel_id", ""), thread.get("thread_ts", "")
            intros = {lang: wording().replies[lang]["intro"] for lang in ("en", "zh")}
            self.commit(item, [_post(channel, thread_ts, kit.assistant_greeting(intros)),
                               {"call": "prompts", "channel": channel, "thread_ts": thread_ts,
                                "prompts": kit.suggested_prompts(), "title": kit.prompts_title()}])
            return
        if event.get("type") != "message" or _is_from_bot(event, self.bot_user_id):
            self.store.inbox_finish(item.id)
            return
        channel, thread_ts = event.get("channel", ""), event.get("thread_ts") or event.get("ts", "")
        text = plain_text(event.get("text") or "")
        lang = detect_lang(text) if text else "en"
        try:  # shown until the bot's next reply in the thread; only a courtesy if it fails
            SetStatus(self.client, channel, thread_ts)(kit.status(lang))
        except (SlackApiError, URLError, OSError) as e:
            log.info("could not set the assistant status: %s", e)
        self.converse(item, team, channel, thread_ts, text, start=True)

    def converse(self, item: InboxItem, team: Optional[str], channel: str, thread_ts: str, text: str,
                 *, start: bool) -> None:
        """A message for the thread's interview: start one (if `start`) or take the answer."""
        key = thread_key(team, channel, thread_ts)
        self.ready()
        with self.lock(key):  # held while posting too, so a thread's replies keep their order
            record = self.store.find(CHANNEL, key)
            if record is None and not start:
                self.store.inbox_finish(item.id)
                return
            if record is None:
                sid = self.store.new_id()
                if not text:
                    state = InterviewState()
                    replies = [_post(channel, thread_ts, kit.escape(wording().replies[state.lang]["intro"]))]
                else:
                    state, turn = self.advisor.start_interview(text)
                    replies = self.turn_replies(channel, thread_ts, sid, state, turn)
                self.commit(item, replies, create=(sid, state, CHANNEL, key))
                return
            sid, state = record.id, record.state
            if state.done and text:
                # After the advice: "what if …?", "change the … answer to …" or "back" (the library reads it).
                turn = self.advisor.reply(state, text)
                replies = (self.follow_up_replies(channel, thread_ts, sid, state, turn) if state.done
                           else self.turn_replies(channel, thread_ts, sid, state, turn))  # "back" reopened it
                self.commit(item, replies, save=(sid, state))
                return
            if state.done:
                self.commit(item, [self._finished(channel, thread_ts, state)])
                return
            if not text:
                self.store.inbox_finish(item.id)
                return
            if not state.history and not state.description:
                state, turn = self.advisor.start_interview(text)
            else:
                turn = self.advisor.reply(state, text)
            self.commit(item, self.turn_replies(channel, thread_ts, sid, state, turn), save=(sid, state))

    def _finished(self, channel: str, thread_ts: str, state: InterviewState) -> dict:
        rec = state.recommendation
        name = wording().decision_names[state.lang][rec.decision] if rec else "-"
        return _post(channel, thread_ts, kit.labels(state.lang)["finished"].format(decision=kit.escape(name)))

    def follow_up_replies(self, channel: str, thread_ts: str, sid: str, state: InterviewState,
                          turn: Turn) -> list[dict]:
        """What moved and the new advice; a what-if's advice as text (its buttons would point at the
        saved advice), a change's with its buttons (it is the saved advice now)."""
        if turn.change is None or not turn.recommendation:
            hint = self._finished(channel, thread_ts, state)
            hint["text"] = kit.clip(hint["text"] + "\n" + kit.escape(turn.text), 3000)
            return [hint]
        rec = turn.recommendation
        if turn.change.saved:
            return [_post(channel, thread_ts, kit.escape(turn.text)),
                    _post(channel, thread_ts, kit.escape(kit.recommendation_text(rec)),
                          kit.recommendation_blocks(rec, sid))]
        return [_post(channel, thread_ts, kit.escape(turn.text + "\n\n" + kit.recommendation_text(rec)))]

    def turn_replies(self, channel: str, thread_ts: str, sid: str, state: InterviewState, turn: Turn) -> list[dict]:
        if turn.kind == "question":
            return [_post(channel, thread_ts, kit.escape(turn.text),
                          kit.question_blocks(turn, state.lang, step=len(state.history)))]
        if turn.kind == "recommendation" and turn.recommendation:
            rec = turn.recommendation
            prose = "".join(self.advisor.write_advice(rec))
            return [_post(channel, thread_ts, kit.escape(kit.recommendation_text(rec)),
                          kit.recommendation_blocks(rec, sid, advice_text=prose))]
        return [_post(channel, thread_ts, kit.escape(turn.text))]

    # ------------------------------------------------------------------ buttons
    def on_action(self, item: InboxItem, team: Optional[str], body: dict) -> None:
        action = (body.get("actions") or [{}])[0]
        action_id = action.get("action_id", "")
        if action_id.startswith(f"{kit.ANSWER_ACTION}:"):
            self.answer(item, team, body, action)
        elif action_id.startswith(f"{kit.WHY_ACTION}:"):
            self.why(item, team, body, action)
        elif action_id == kit.SHARE_ACTION:
            self.share(item, team, body, action)
        else:
            self.store.inbox_finish(item.id)

    def answer(self, item: InboxItem, team: Optional[str], body: dict, action: dict) -> None:
        """An answer button: the interview moves on and the question shows who answered what."""
        channel, thread_ts, message_ts = _where(body)
        dim, step = kit.parse_question_block(action.get("block_id", ""))
        user = (body.get("user") or {}).get("id", "")
        key = thread_key(team, channel, thread_ts)
        self.ready()
        with self.lock(key):
            record = self.store.find(CHANNEL, key)
            if record is None:
                self.commit(item, [_respond(response_type="ephemeral", replace_original=False,
                                            text=kit.labels("en")["gone"])])
                return
            sid, state = record.id, record.state
            if state.done or state.pending != dim or len(state.history) != step:
                self.commit(item, [_respond(response_type="ephemeral", replace_original=False,
                                            text=kit.labels(state.lang)["stale"])])
                return
            question = state.history[-1].question
            label = kit.answer_label(state.lang, dim, action.get("value", ""))
            replies = [{"call": "update", "channel": channel, "ts": message_ts, "text": kit.escape(question),
                        "blocks": kit.answered_blocks(question, label, user, state.lang)}]
            turn = self.advisor.reply(state, action.get("value", ""))
            replies += self.turn_replies(channel, thread_ts, sid, state, turn)
            self.commit(item, replies, save=(sid, state))

    def owned(self, session_id: str, team: Optional[str], channel: str) -> Optional[SessionRecord]:
        """The session a button names, only if it belongs to this workspace and channel."""
        try:
            record = self.store.get(session_id)
        except UserError:
            return None
        if record.channel != CHANNEL or not (record.key or "").startswith(f"{team or '-'}:{channel}:"):
            return None
        return record if record.state.recommendation else None

    def why(self, item: InboxItem, team: Optional[str], body: dict, action: dict) -> None:
        """The "why?" button: the reason's full citation, in the thread (or to the clicker)."""
        channel, thread_ts, _ = _where(body)
        parsed = kit.parse_why_value(action.get("value", ""))
        record = self.owned(parsed[0], team, channel) if parsed else None
        rec = record.state.recommendation if record else None
        items = (rec.rationale if parsed[1] == "r" else rec.caveats) if rec else []
        if not parsed or parsed[2] >= len(items):
            self.commit(item, [_respond(response_type="ephemeral", replace_original=False,
                                        text=kit.labels("en")["gone"])])
            return
        reason = items[parsed[2]]
        blocks, text = kit.citation_blocks(reason, rec.lang), kit.escape(kit.citation_text(reason))
        if (body.get("container") or {}).get("is_ephemeral"):
            reply = _respond(response_type="ephemeral", replace_original=False, text=text, blocks=blocks)
        else:
            reply = _post(channel, thread_ts, text, blocks)
        self.commit(item, [reply])

    def share(self, item: InboxItem, team: Optional[str], body: dict, action: dict) -> None:
        """"Share in channel": the one-shot advice posted for everyone, the private copy removed."""
        channel, _, _ = _where(body)
        user = (body.get("user") or {}).get("id", "")
        record = self.owned(action.get("value", ""), team, channel)
        if record is None:
            self.commit(item, [_respond(response_type="ephemeral", replace_original=False,
                                        text=kit.labels("en")["gone"])])
            return
        rec = record.state.recommendation
        self.commit(item, [{"call": "share", "channel": channel, "text": kit.escape(kit.recommendation_text(rec)),
                            "blocks": kit.recommendation_blocks(rec, record.id, shared_by=user)}])

    # ------------------------------------------------------------------ slash command
    def one_shot(self, item: InboxItem, team: Optional[str], command: dict) -> None:
        """/advisor DESCRIPTION: the advice, visible only to the caller, with a share button."""
        text = plain_text(command.get("text", ""))
        self.ready()
        rec = self.advisor.recommend(text)
        state = InterviewState(lang=rec.lang, description=text, profile=rec.profile, done=True, recommendation=rec)
        sid = self.store.new_id()
        key = f"{team or '-'}:{command.get('channel_id', '')}:cmd-{secrets.token_hex(6)}"
        prose = "".join(self.advisor.write_advice(rec))
        reply = _respond(response_type="ephemeral", text=kit.escape(kit.recommendation_text(rec)),
                         blocks=kit.recommendation_blocks(rec, sid, advice_text=prose, shareable=True))
        self.commit(item, [reply], create=(sid, state, CHANNEL, key))

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
