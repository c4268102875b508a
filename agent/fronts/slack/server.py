"""The Slack bot's HTTP server: uvicorn in front of the Bolt app, with limits Slack's traffic needs.

    socket -> uvicorn (asyncio, h11; header timeout) -> SlackASGI (path, size cap, body timeout,
    UTF-8, signature, body shape: 4xx for anything malformed) -> Bolt `App.dispatch` in a thread
    pool -> the response (the ack)

Bolt's own ASGI adapter runs `dispatch` on the event loop and answers a bad body with a 500; this
one keeps the loop free (a stalled or slow client costs one coroutine, never a worker) and turns
every malformed request into a 4xx before Bolt sees it. Bolt still verifies the signature itself.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional
from urllib.parse import parse_qsl

import h11
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

PATH = "/slack/events"


@dataclass(frozen=True)
class ServerLimits:
    """What one request may cost. Slack's payloads are a few KB; Slack waits 3 s for the ack."""

    max_body_bytes: int = 1_000_000
    header_timeout: float = 10.0  # from connect (or the end of the last response) to the full headers
    body_timeout: float = 10.0  # for the whole body, once the headers are in
    threads: int = 16  # requests dispatched to Bolt at a time (each is a signature check and a store write)
    max_connections: int = 500  # beyond this uvicorn answers 503 at once
    keep_alive: int = 5
    signature_max_age: int = 60 * 5  # Slack's own replay window


class HeaderTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers do not arrive in time.

    uvicorn times out idle keep-alive connections, but not a client that sends half a header and
    stalls (slowloris); asyncio keeps that from blocking anyone, this keeps it from piling up.
    """

    header_timeout = ServerLimits.header_timeout

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the request line and headers are in
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if self.conn.their_state not in (h11.IDLE, h11.DONE):
            # Answered before the body was in (408, 413): the connection cannot carry another
            # request, and waiting for its keep-alive timeout would only hold a stalled client.
            self.transport.close()
            return
        self._arm_header_timer()  # the next request on this keep-alive connection

    def connection_lost(self, exc) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("closing a connection whose request headers took over %.0f s", self.header_timeout)
            self.transport.close()


class SlackASGI:
    """An ASGI app serving a Bolt `App` at /slack/events; every malformed request gets a 4xx."""

    def __init__(self, app: App, signing_secret: str, limits: ServerLimits = ServerLimits(),
                 *, clock: Callable[[], float] = time.time):
        self.app = app
        self.limits = limits
        self.verifier = SignatureVerifier(signing_secret)
        self.clock = clock
        self.pool = ThreadPoolExecutor(max_workers=limits.threads, thread_name_prefix="slack-http")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        status, headers, body = await self._handle(scope, receive)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.shutdown(wait=True, cancel_futures=False)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope, receive) -> tuple[int, list[tuple[str, str]], bytes]:
        if scope["path"] != PATH:
            return _plain(404, "not found")
        if scope["method"] != "POST":
            return _plain(405, "POST only")
        headers = _headers(scope)
        length = headers.get("content-length", "")
        if length and (not length.isdigit() or int(length) > self.limits.max_body_bytes):
            return _plain(413 if length.isdigit() else 400, "request body too large or bad Content-Length")
        try:
            raw = await asyncio.wait_for(self._body(receive), self.limits.body_timeout)
        except asyncio.TimeoutError:
            return _plain(408, "request body too slow")
        except _TooLarge:
            return _plain(413, "request body too large")
        except _Disconnected:
            return _plain(400, "client went away")
        problem = self._malformed(raw, headers)
        if problem:
            status, message = problem
            log.info("refused a Slack request (%s): %s", status, message)
            return _plain(status, message)
        request = BoltRequest(body=raw.decode("utf-8"), query=scope.get("query_string", b"").decode("latin-1"),
                              headers={k: v for k, v in headers.items()})
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(self.pool, self.app.dispatch, request)
        out_headers = [(k, v) for k, values in response.headers.items() for v in values]
        body = response.body.encode("utf-8") if isinstance(response.body, str) else (response.body or b"")
        return response.status, out_headers, body

    async def _body(self, receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.max_body_bytes:
                raise _TooLarge()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _malformed(self, raw: bytes, headers: dict[str, str]) -> Optional[tuple[int, str]]:
        """Why a request must not reach Bolt (status, reason), or None."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return 400, "request body is not UTF-8"
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not timestamp or not signature:
            return 401, "unsigned request"
        if not timestamp.isdigit() or len(timestamp) > 12:
            return 401, "X-Slack-Request-Timestamp is not a number"
        if abs(self.clock() - int(timestamp)) > self.limits.signature_max_age:
            return 401, "stale request (replayed?)"
        if not self.verifier.is_valid(text, timestamp, signature):
            return 401, "bad signature"
        return _bad_body(text, headers.get("content-type", ""))


def _bad_body(text: str, content_type: str) -> Optional[tuple[int, str]]:
    """Bolt parses a body the way `slack_bolt.request.internals.parse_body` does; check it parses."""
    if not text:
        return 400, "empty body"
    try:
        if content_type.startswith("application/json") or text.startswith("{"):
            body = json.loads(text)
        else:
            form = dict(parse_qsl(text, keep_blank_values=True))
            body = json.loads(form["payload"]) if "payload" in form else form
    except (ValueError, RecursionError):
        return 400, "request body is not valid JSON"
    if not isinstance(body, dict):
        return 400, "request body is not a JSON object"
    return None


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _plain(status: int, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("content-type", "text/plain; charset=utf-8")], message.encode("utf-8")


def make_server(asgi: SlackASGI, host: str, port: int, *, limits: ServerLimits = ServerLimits(),
                log_level: str = "warning"):
    """A uvicorn Server for the app (not started): h11 with the header timeout, and the limits."""
    import uvicorn

    protocol = type("SlackH11", (HeaderTimeoutH11,), {"header_timeout": limits.header_timeout})
    config = uvicorn.Config(asgi, host=host, port=port, http=protocol, lifespan="on", log_level=log_level,
                            access_log=False, limit_concurrency=limits.max_connections, backlog=2048,
                            timeout_keep_alive=limits.keep_alive, timeout_graceful_shutdown=10,
                            h11_max_incomplete_event_size=16 * 1024, server_header=False)
    return uvicorn.Server(config)
