"""Fault suite, Slack: malformed requests, 50 concurrent mentions with stalled clients, crashes.

Everything runs on 127.0.0.1 against the fake Web API. Timing figures are measured and printed
(run with -s to see them), never asserted tightly; the guarantees asserted are Slack's 3 s ack,
no lost event, no double answer.
Rerun: .venv/bin/python -m pytest -q -s -m faults tests/slack/test_slack_faults.py
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from slack_fakes import BOT_TOKEN, BOT_USER, SIGNING_SECRET, TEAM, USER, SlackSide

pytestmark = pytest.mark.faults

WIKI = "We want a support bot that answers questions over our internal wiki."
MENTIONS = 50
SLACK_ACK_SECONDS = 3.0


def _signed_headers(body: bytes, timestamp: str | None = None, secret: str = SIGNING_SECRET) -> dict:
    ts = timestamp or str(int(time.time()))
    base = b"v0:" + ts.encode() + b":" + body
    sig = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


def _post(port: int, body: bytes, headers: dict, path: str = "/slack/events", method: str = "POST",
          timeout: float = 10) -> tuple[int, float]:
    """(status, seconds) of one request on a fresh connection."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", **headers})
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.perf_counter() - started
    finally:
        conn.close()


def _mention_body(n: int, ts: str, channel: str = "C0LOAD") -> bytes:
    event = {"type": "app_mention", "user": USER, "text": f"<@{BOT_USER}> {WIKI} (team {n})", "ts": ts,
             "channel": channel, "event_ts": ts}
    return json.dumps({"token": "legacy", "team_id": TEAM, "api_app_id": "A0ADVISOR", "type": "event_callback",
                       "event_id": f"EvLOAD{n:04d}", "event_time": int(time.time()), "event": event,
                       "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]}).encode()


def _ts(n: int) -> str:
    return f"1695000{n:03d}.000100"


# --------------------------------------------------------------------------- malformed requests

def test_every_malformed_request_gets_a_4xx_and_reaches_no_one(bot, fake_api):
    port = bot.port
    good = _mention_body(1, _ts(1))
    cases = {
        "bad JSON": (b'{"type": "event_callback", "event": {', None),
        "invalid UTF-8": (b'{"type": "event_callback", "text": "caf\xe9"}', None),
        "JSON that is not an object": (b"[1, 2, 3]", {"Content-Type": "application/json"}),
        "form payload that is not JSON": (b"payload=%7Bnot-json", {"Content-Type": "application/x-www-form-urlencoded"}),
        "non-numeric timestamp": (good, _signed_headers(good, timestamp="soon")),
        "huge timestamp": (good, _signed_headers(good, timestamp="9" * 40)),
        "bad signature": (good, _signed_headers(good, secret="not-the-secret")),
        "unsigned": (good, {}),
        "stale (replayed)": (good, _signed_headers(good, timestamp=str(int(time.time()) - 3600))),
        "empty body": (b"", None),
    }
    got = {}
    for name, (body, headers) in cases.items():
        got[name] = _post(port, body, headers if headers is not None else _signed_headers(body))[0]
    got["too large"] = _status_of_announced_body(port, 1_100_000)  # refused before its body is read
    got["wrong path"] = _post(port, good, _signed_headers(good), path="/elsewhere")[0]
    got["GET"] = _post(port, b"", {}, method="GET")[0]

    assert all(400 <= status < 500 for status in got.values()), got
    assert got["bad signature"] == got["unsigned"] == got["non-numeric timestamp"] == 401
    assert got["too large"] == 413 and got["bad JSON"] == got["invalid UTF-8"] == 400
    assert bot.slack.mention(WIKI)[1][0] == 200  # and the server still works
    bot.idle()
    assert len(fake_api.received("chat.postMessage")) == 1


def _status_of_announced_body(port: int, length: int) -> int:
    """Send only the headers of a request announcing `length` bytes; the status the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode())
        head = sock.recv(4096).decode("latin-1")
    return int(head.split()[1])


def test_a_chunked_body_over_the_cap_is_cut_off_while_it_is_read(make_bot, fake_api):
    from agent.fronts.slack.server import ServerLimits

    bot = make_bot(limits=ServerLimits(max_body_bytes=10_000))
    with socket.create_connection(("127.0.0.1", bot.port), timeout=10) as sock:
        sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 4096
        for _ in range(3):  # 12 KB with no Content-Length to refuse it up front; then wait, sending no more
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        head = sock.recv(4096).decode("latin-1")
    assert head.split()[1] == "413"
    bot.idle()
    assert fake_api.received("chat.postMessage") == []


# --------------------------------------------------------------------------- load and stalled clients

class _Staller:
    """A client that sends part of a request and then nothing (slowloris)."""

    def __init__(self, port: int, data: bytes):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(data)

    def closed_by_server(self, timeout: float) -> bool:
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.close()


def test_50_concurrent_mentions_are_acked_in_time_and_answered_once_despite_stalled_clients(make_bot, fake_api):
    from agent.fronts.slack.server import ServerLimits

    bot = make_bot(limits=ServerLimits(header_timeout=2.0, body_timeout=2.0))
    port = bot.port
    stalled_headers = _Staller(port, b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Le")
    body = _mention_body(0, _ts(0))
    stalled_body = _Staller(port, b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                  + f"Content-Length: {len(body)}\r\n".encode()
                                  + "".join(f"{k}: {v}\r\n" for k, v in _signed_headers(body).items()).encode()
                                  + b"\r\n" + body[:20])
    bodies = [_mention_body(n, _ts(n)) for n in range(1, MENTIONS + 1)]
    barrier = threading.Barrier(MENTIONS)

    def send(b: bytes) -> tuple[int, float]:
        barrier.wait()
        return _post(port, b, _signed_headers(b))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=MENTIONS) as pool:
        results = list(pool.map(send, bodies))
    statuses = [s for s, _ in results]
    latencies = sorted(t for _, t in results)
    answered = fake_api.wait_for("chat.postMessage", count=MENTIONS, timeout=120)
    all_done = time.perf_counter() - started
    bot.idle(60)
    per_thread = {}
    for call in fake_api.received("chat.postMessage"):
        per_thread[call.thread_ts] = per_thread.get(call.thread_ts, 0) + 1

    closed_headers = stalled_headers.closed_by_server(5)
    closed_body = stalled_body.closed_by_server(5)
    figures = {"mentions": MENTIONS, "acked_200": statuses.count(200),
               "acked_within_3s": sum(t <= SLACK_ACK_SECONDS for t in latencies),
               "ack_p50_ms": round(statistics.median(latencies) * 1000, 1),
               "ack_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 1),
               "ack_max_ms": round(latencies[-1] * 1000, 1), "answered": len(answered),
               "duplicates": sum(n - 1 for n in per_thread.values()),
               "all_answered_s": round(all_done, 2),
               "stalled_clients_closed": [closed_headers, closed_body]}
    print(f"\nFAULT-FIGURES slack-load: {json.dumps(figures)}")

    assert statuses == [200] * MENTIONS
    assert latencies[-1] <= SLACK_ACK_SECONDS, f"an ack took {latencies[-1]:.2f}s"
    assert sorted(per_thread) == sorted(_ts(n) for n in range(1, MENTIONS + 1))
    assert set(per_thread.values()) == {1}  # every mention answered exactly once
    assert closed_headers and closed_body  # the stallers were cut off, after harming no one


# --------------------------------------------------------------------------- crashes

def test_a_crash_after_the_ack_is_finished_by_the_next_start_and_a_retry_is_not_answered_again(
        settings, fake_api, shared_advisor, monkeypatch):
    from agent.fronts.slack.app import SlackBot, create_app
    from conftest import RunningBot

    real_deliver = SlackBot.deliver

    def crash(self, item, replies):
        raise SystemExit("killed between the commit and the reply")  # what a kill -9 leaves behind

    monkeypatch.setattr(SlackBot, "deliver", crash)
    first = RunningBot(create_app(settings, shared_advisor), settings, fake_api)
    ts, (status, _) = first.slack.mention(WIKI, channel="C0CRASH", ts=_ts(900))
    assert status == 200
    first.close()  # waits for the worker, which "died" before posting
    assert fake_api.received("chat.postMessage") == []  # the reply was lost with the process…
    with first.store() as store:
        [item] = store.inbox_unfinished()
        assert item.status == "answered" and item.outbox  # …but the turn and its reply were saved

    monkeypatch.setattr(SlackBot, "deliver", real_deliver)
    second = RunningBot(create_app(settings, shared_advisor), settings, fake_api)  # the restart
    try:
        [reply] = fake_api.wait_for("chat.postMessage", thread_ts=ts)
        # Slack retries the event it saw no timely answer for: acknowledged, not answered again.
        event = {"type": "app_mention", "user": USER, "text": f"<@{BOT_USER}> {WIKI}", "ts": ts,
                 "channel": "C0CRASH", "event_ts": ts}
        assert second.slack.event(event, event_id="Ev00000001", retry=1)[0] == 200
        second.idle()
        assert len(fake_api.received("chat.postMessage", thread_ts=ts)) == 1
        with second.store() as store:
            assert store.inbox_unfinished() == []
            record = store.find("slack", f"{TEAM}:C0CRASH:{ts}")
            assert record is not None and len(record.state.history) == 1  # the turn ran once
    finally:
        second.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_bot_process(home: Path, api_url: str, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ADVISOR_", "OPENAI_"))}
    env.update({"ADVISOR_HOME": str(home), "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_BASE_URL": api_url, "ADVISOR_ENGINE": "offline"})
    proc = subprocess.Popen([sys.executable, "-m", "agent.fronts.cli.main", "slack", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()[-1500:]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("advisor slack did not start listening")


def test_kill_9_under_load_then_restart_answers_every_acked_mention_once(tmp_path, fake_api, request):
    home = tmp_path / "proc-home"
    home.mkdir()
    try:
        shutil.copytree(request.getfixturevalue("built_index"), home / "index")
    except pytest.FixtureLookupError:
        pass
    port = _free_port()
    proc = _start_bot_process(home, fake_api.api_url, port)
    slack = SlackSide(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, fake_api)
    try:
        bodies = [_mention_body(n, _ts(n), channel="C0KILL") for n in range(1, MENTIONS + 1)]
        with ThreadPoolExecutor(max_workers=MENTIONS) as pool:
            results = list(pool.map(lambda b: _post(port, b, _signed_headers(b)), bodies))
        os.kill(proc.pid, signal.SIGKILL)  # at once after the last ack, work still in flight
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    acked = sum(s == 200 for s, _ in results)
    answered_before = len({c.thread_ts for c in fake_api.received("chat.postMessage")})

    restarted = _start_bot_process(home, fake_api.api_url, port)
    try:
        fake_api.wait_for("chat.postMessage", count=MENTIONS, timeout=120,
                          where=lambda c: c.channel == "C0KILL")
        deadline = time.monotonic() + 30  # let the restarted bot finish and settle
        while time.monotonic() < deadline:
            from agent.store.sessions import SessionStore
            with SessionStore(home / "sessions.db") as store:
                if not store.inbox_unfinished():
                    break
            time.sleep(0.1)
        # A retry of every event (Slack's, after the outage) must not answer anything again.
        for n in range(1, 6):
            slack.send(_mention_body(n, _ts(n), channel="C0KILL").decode(), headers={"X-Slack-Retry-Num": "1"})
    finally:
        restarted.send_signal(signal.SIGTERM)
        try:
            restarted.wait(20)
        except subprocess.TimeoutExpired:
            restarted.kill()
    per_thread: dict[str, int] = {}
    for call in fake_api.received("chat.postMessage"):
        per_thread[call.thread_ts] = per_thread.get(call.thread_ts, 0) + 1
    figures = {"mentions": MENTIONS, "acked": acked, "answered_before_kill": answered_before,
               "answered_after_restart": len(per_thread), "lost": MENTIONS - len(per_thread),
               "duplicates": sum(n - 1 for n in per_thread.values())}
    print(f"\nFAULT-FIGURES slack-kill-9: {json.dumps(figures)}")

    assert acked == MENTIONS
    assert sorted(per_thread) == sorted(_ts(n) for n in range(1, MENTIONS + 1))  # no acked event lost
    # A reply posted just before the kill but not yet marked sent is found in the thread on
    # restart (conversations.replies) and not posted again; a retry is never answered.
    assert figures["duplicates"] == 0, figures
