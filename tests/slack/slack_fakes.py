"""A local fake of Slack for the bot's tests: the Web API it calls, and the Slack that calls it.

`FakeSlackAPI` is a small http.server on 127.0.0.1 (random port) that answers `auth.test`,
`chat.postMessage`, `chat.postEphemeral`, `chat.update`, `conversations.replies` and the
response_url POSTs with `{"ok": true, ...}`, records every call, and lets a test wait for a
call without sleeping (a condition variable, notified on each call).

`SlackSide` plays Slack towards the running bot: it signs requests the way Slack does
(v0 HMAC of "v0:timestamp:body") and builds event, block_actions and slash-command payloads.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

from slack_sdk.signature import SignatureVerifier

from agent.settings import Settings

BOT_TOKEN = "xoxb-test-0000000000-advisorbottoken"
SIGNING_SECRET = "test-signing-secret-5f2b9c0e7d"
TEAM = "T0TEAM001"
BOT_USER = "U0ADVISOR"
BOT_ID = "B0ADVISOR"
USER = "U0HUMAN01"


def slack_settings(home, api_url: Optional[str], **env: Optional[str]) -> Settings:
    """Settings as the environment would give them: the test tokens, the fake API, `env` on top (None unsets)."""
    values = {"ADVISOR_HOME": str(home), "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
              "ADVISOR_ENGINE": "offline", "SLACK_API_BASE_URL": api_url}
    values.update(env)
    return Settings.from_env(env={k: v for k, v in values.items() if v is not None})


@dataclass
class Call:
    """One request the fake Web API received."""

    method: str  # "chat.postMessage", … or "response_url"
    body: dict
    headers: dict = field(default_factory=dict)
    ts: Optional[str] = None  # the ts the fake gave a posted message

    @property
    def channel(self) -> Optional[str]:
        return self.body.get("channel")

    @property
    def thread_ts(self) -> Optional[str]:
        return self.body.get("thread_ts")

    @property
    def blocks(self) -> list[dict]:
        blocks = self.body.get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else blocks

    def buttons(self) -> list[tuple[str, dict]]:
        """(block_id, button) for every button in the message, in order."""
        out = []
        for block in self.blocks:
            if block.get("type") == "actions":
                out += [(block.get("block_id", ""), el) for el in block["elements"] if el.get("type") == "button"]
            accessory = block.get("accessory") or {}
            if accessory.get("type") == "button":
                out.append((block.get("block_id", ""), accessory))
        return out

    def button(self, action_prefix: str) -> tuple[str, dict]:
        for block_id, b in self.buttons():
            if b["action_id"].startswith(action_prefix):
                return block_id, b
        raise AssertionError(f"no button {action_prefix!r} in {self.method} blocks: {self.blocks}")

    def all_text(self) -> str:
        """Every piece of text in the message (text, blocks, fields), Slack's escapes undone, for assertions."""
        text = self.body.get("text", "") + "\n" + json.dumps(self.blocks, ensure_ascii=False)
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class FakeSlackAPI:
    """The Slack Web API and response_url endpoint, on a random local port."""

    def __init__(self, token: str):
        self.token = token
        self.calls: list[Call] = []
        self.errors: dict[str, str] = {}  # method -> Slack error to answer with (ok: false)
        self._cond = threading.Condition()
        self._ts = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
                reply = fake._answer(self.path, body, dict(self.headers))
                data = json.dumps(reply).encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> "FakeSlackAPI":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, name: str) -> str:
        return f"{self.url}/response/{name}"

    def _answer(self, path: str, body: dict, headers: dict) -> dict:
        if path.startswith("/response/"):
            call = Call("response_url", body, headers)
            reply = {"ok": True}
        else:
            method = path.rsplit("/", 1)[-1]
            call = Call(method, body, headers)
            reply = self._api(call, headers)
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()
        return reply

    def _api(self, call: Call, headers: dict) -> dict:
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        if auth != f"Bearer {self.token}":
            return {"ok": False, "error": "invalid_auth"}
        if call.method in self.errors:
            return {"ok": False, "error": self.errors[call.method]}
        if call.method == "auth.test":
            return {"ok": True, "url": "https://example.slack.com/", "team": "Test team", "user": "advisor",
                    "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID}
        if call.method in ("chat.postMessage", "chat.postEphemeral"):
            call.ts = f"1700000{next(self._ts):03d}.000100"
            key = "ts" if call.method == "chat.postMessage" else "message_ts"
            return {"ok": True, "channel": call.channel, key: call.ts,
                    "message": {"text": call.body.get("text", ""), "ts": call.ts, "bot_id": BOT_ID}}
        if call.method == "chat.update":
            return {"ok": True, "channel": call.channel, "ts": call.body.get("ts"), "text": call.body.get("text")}
        if call.method == "conversations.replies":  # the bot's posts in that thread, newer than `oldest`
            with self._cond:
                posted = [c for c in self.calls if c.method == "chat.postMessage"
                          and c.thread_ts == call.body.get("ts") and c.channel == call.body.get("channel")]
            oldest = float(call.body.get("oldest") or 0)
            return {"ok": True, "has_more": False,
                    "messages": [{"type": "message", "ts": c.ts, "text": c.body.get("text", ""), "bot_id": BOT_ID}
                                 for c in posted if float(c.ts) > oldest]}
        return {"ok": True}

    # ------------------------------------------------------------------ observing
    def received(self, method: Optional[str] = None, **match) -> list[Call]:
        """Calls so far, optionally of one method and with these body values."""
        with self._cond:
            calls = list(self.calls)
        return [c for c in calls if (method is None or c.method == method)
                and all(c.body.get(k) == v for k, v in match.items())]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0,
                 where: Optional[Callable[[Call], bool]] = None, **match) -> list[Call]:
        """Block until at least `count` matching calls arrived; return them (or fail after `timeout`)."""
        def found() -> list[Call]:
            calls = [c for c in self.calls if c.method == method and all(c.body.get(k) == v for k, v in match.items())]
            return [c for c in calls if where is None or where(c)]

        with self._cond:
            ok = self._cond.wait_for(lambda: len(found()) >= count, timeout)
            calls = found()
        if not ok:
            raise AssertionError(f"waited {timeout}s for {count} {method} call(s) matching {match}; got "
                                 f"{len(calls)}. All calls: {[(c.method, c.body.get('text')) for c in self.calls]}")
        return calls


class SlackSide:
    """Slack, as the bot sees it: signed requests to its /slack/events endpoint."""

    def __init__(self, url: str, secret: str, api: FakeSlackAPI, team: str = TEAM):
        self.url = url
        self.secret = secret
        self.api = api
        self.team = team
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)

    def new_ts(self) -> str:
        return f"1690000{next(self._ts):03d}.000200"

    # ------------------------------------------------------------------ raw requests
    def send(self, body: str, content_type: str = "application/json", *, sign: bool = True,
             timestamp: Optional[int] = None, secret: Optional[str] = None,
             headers: Optional[dict] = None) -> tuple[int, str]:
        """POST a body as Slack would; returns (status, response body)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        hdrs = {"Content-Type": content_type, **(headers or {})}
        if sign:
            hdrs["X-Slack-Request-Timestamp"] = ts
            hdrs["X-Slack-Signature"] = SignatureVerifier(secret or self.secret).generate_signature(
                timestamp=ts, body=body)
        req = urllib.request.Request(self.url, data=body.encode("utf-8"), headers=hdrs, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8")

    # ------------------------------------------------------------------ events
    def event(self, event: dict, *, event_id: Optional[str] = None, team: Optional[str] = None,
              retry: Optional[int] = None) -> tuple[int, str]:
        team = team or self.team
        envelope = {"token": "legacy-verification-token", "team_id": team, "api_app_id": "A0ADVISOR",
                    "type": "event_callback", "event_id": event_id or f"Ev{next(self._ids):08d}",
                    "event_time": int(time.time()), "event": event,
                    "authorizations": [{"team_id": team, "user_id": BOT_USER, "is_bot": True}]}
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return self.send(json.dumps(envelope), headers=headers)

    def mention(self, text: str, *, channel: str = "C0CHANNEL1", ts: Optional[str] = None,
                thread_ts: Optional[str] = None, user: str = USER, team: Optional[str] = None,
                **fields) -> tuple[str, tuple[int, str]]:
        """A message mentioning the bot; returns (its ts, the HTTP result)."""
        ts = ts or self.new_ts()
        event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}", "ts": ts,
                 "channel": channel, "event_ts": ts, **fields}
        if thread_ts:
            event["thread_ts"] = thread_ts
        return ts, self.event(event, team=team)

    def message(self, text: str, *, channel: str = "C0CHANNEL1", channel_type: str = "channel",
                thread_ts: Optional[str] = None, user: Optional[str] = USER, ts: Optional[str] = None,
                team: Optional[str] = None, **fields) -> tuple[str, tuple[int, str]]:
        ts = ts or self.new_ts()
        event = {"type": "message", "text": text, "ts": ts, "channel": channel, "channel_type": channel_type,
                 "event_ts": ts, **fields}
        if user:
            event["user"] = user
        if thread_ts:
            event["thread_ts"] = thread_ts
        return ts, self.event(event, team=team)

    # ------------------------------------------------------------------ interactivity
    def click(self, message: Call, action_prefix: str, *, user: str = USER, ephemeral: bool = False,
              channel: Optional[str] = None, team: Optional[str] = None) -> tuple[int, str]:
        """Click a button of a message the bot sent (a chat.postMessage call, or a response_url one)."""
        block_id, button = message.button(action_prefix)
        channel = channel or message.channel
        team = team or self.team
        container = {"type": "message", "channel_id": channel, "is_ephemeral": ephemeral,
                     "message_ts": message.ts or self.new_ts()}
        payload = {"type": "block_actions", "team": {"id": team, "domain": "test"},
                   "user": {"id": user, "team_id": team}, "api_app_id": "A0ADVISOR",
                   "token": "legacy-verification-token", "container": container,
                   "trigger_id": f"trigger-{next(self._ids)}", "channel": {"id": channel},
                   "response_url": self.api.response_url(f"action-{next(self._ids)}"),
                   "actions": [{"type": "button", "action_id": button["action_id"], "block_id": block_id,
                                "value": button.get("value", ""), "text": button["text"],
                                "action_ts": str(time.time())}]}
        if not ephemeral:
            msg = {"type": "message", "ts": message.ts, "bot_id": BOT_ID, "text": message.body.get("text", ""),
                   "blocks": message.blocks}
            if message.thread_ts:
                msg["thread_ts"] = message.thread_ts
                container["thread_ts"] = message.thread_ts
            payload["message"] = msg
        return self.send(urllib.parse.urlencode({"payload": json.dumps(payload)}),
                         "application/x-www-form-urlencoded")

    def slash(self, text: str, *, channel: str = "C0CHANNEL1", user: str = USER,
              name: str = "cmd") -> tuple[int, str]:
        form = {"token": "legacy-verification-token", "team_id": self.team, "team_domain": "test",
                "channel_id": channel, "channel_name": "general", "user_id": user, "user_name": "human",
                "command": "/advisor", "text": text, "api_app_id": "A0ADVISOR",
                "response_url": self.api.response_url(name), "trigger_id": f"trigger-{next(self._ids)}"}
        return self.send(urllib.parse.urlencode(form), "application/x-www-form-urlencoded")
