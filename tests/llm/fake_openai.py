"""A small OpenAI-shaped HTTP server for the LLM tests, with scripted replies.

It serves /v1/chat/completions (JSON or stream=true SSE), /v1/models and /v1/embeddings
on 127.0.0.1 at a random port. Tests queue replies with `enqueue(...)`; when nothing is
queued for a path it answers like a well-behaved endpoint. Every request is kept in
`requests` so tests can assert on what the client sent.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

CHAT = "/v1/chat/completions"
MODELS = "/v1/models"
EMBEDDINGS = "/v1/embeddings"


@dataclass
class Reply:
    """One scripted reply: a status, headers and a body (or chat content to wrap)."""

    status: int = 200
    body: Any = None  # dict -> JSON, str/bytes -> raw
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0  # seconds before answering, for time-outs
    path: str = CHAT
    chat: Optional[dict] = None  # {"content", "refusal", "finish_reason", "usage"}
    fault: Optional[str] = None  # hang, trickle, stall_stream, truncate_stream, huge
    interval: float = 3.0  # seconds between trickled bytes or before a stream stalls
    size: int = 0  # bytes of a huge reply


def fault(kind: str, *, interval: float = 3.0, size: int = 0) -> Reply:
    """A misbehaving server: hang (never answer), trickle (one byte every `interval` s),
    drip_stream (a chunk every `interval` s, forever), stall_stream (two chunks, then
    silence), truncate_stream (three chunks, then the connection closes), huge (a reply of
    `size` bytes)."""
    return Reply(fault=kind, interval=interval, size=size)


def chat(content: Optional[str] = None, *, refusal: Optional[str] = None,
         finish_reason: str = "stop", prompt_tokens: int = 120,
         completion_tokens: int = 40) -> Reply:
    """A chat completion (streamed as SSE when the request asks for stream=true)."""
    return Reply(chat={"content": content, "refusal": refusal, "finish_reason": finish_reason,
                       "usage": (prompt_tokens, completion_tokens)})


def error(status: int, message: str, *, code: Optional[str] = None, path: str = CHAT,
          headers: Optional[dict[str, str]] = None) -> Reply:
    """An OpenAI-style JSON error."""
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": code}}
    return Reply(status=status, body=body, headers=headers or {}, path=path)


def rate_limited(retry_after: str = "1") -> Reply:
    return error(429, "Rate limit reached. Please try again later.", code="rate_limit_exceeded",
                 headers={"Retry-After": retry_after})


def server_error() -> Reply:
    return error(500, "The server had an error while processing your request.")


def html(status: int = 200, path: str = CHAT) -> Reply:
    page = "<!doctype html><html><head><title>Welcome</title></head><body>It works!</body></html>"
    return Reply(status=status, body=page, content_type="text/html; charset=utf-8", path=path)


def slow(seconds: float, then: Optional[Reply] = None) -> Reply:
    reply = then or chat("too late")
    reply.delay = seconds
    return reply


def _vector(text: str, dims: int = 8) -> list[float]:
    """A deterministic, unnormalised vector for a text."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [(b - 128) / 16.0 for b in digest[:dims]]


class FakeOpenAI:
    """The server; use as a context manager or call start()/close()."""

    def __init__(self, api_key: Optional[str] = None, models: tuple[str, ...] = (
            "gpt-4o-mini", "text-embedding-3-small"), refuse_forms: tuple[str, ...] = (),
                 stream_usage: bool = True):
        self.api_key = api_key  # when set, any other bearer token gets a 401
        self.models = list(models)
        # response_format types answered with HTTP 500, as llama-cpp-python answers json_schema
        self.refuse_forms = set(refuse_forms)
        self.stream_usage = stream_usage  # False: streams end without a usage chunk, as llama-cpp-python's
        self.requests: list[dict] = []
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd: Optional[ThreadingHTTPServer] = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "FakeOpenAI":
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda request, address: None  # a client hanging up is expected
        # A short poll interval keeps shutdown() (every test's teardown) quick.
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes slow replies so no thread outlives the test
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def url(self) -> str:
        assert self._httpd, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    # ------------------------------------------------------------------ scripting
    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def chat_requests(self) -> list[dict]:
        return [r["json"] for r in self.requests if r["path"] == CHAT]

    def _next(self, path: str) -> Optional[Reply]:
        with self._lock:
            for i, reply in enumerate(self._queue):
                if reply.path == path:
                    return self._queue.pop(i)
        return None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._handle(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        self._handle(body)

    # ------------------------------------------------------------------ dispatch
    def _handle(self, body: Optional[dict]) -> None:
        fake = self.fake
        path = self.path.split("?")[0]
        fake.requests.append({"method": self.command, "path": path,
                              "headers": dict(self.headers), "json": body})
        if fake.api_key is not None:
            auth = self.headers.get("Authorization", "")
            if auth != f"Bearer {fake.api_key}":
                return self._send(error(401, "Incorrect API key provided.",
                                        code="invalid_api_key", path=path))
        rtype = ((body or {}).get("response_format") or {}).get("type")
        if path == CHAT and rtype in fake.refuse_forms:
            return self._send(error(500, f"response_format type {rtype} is not supported"))
        reply = fake._next(path)
        if reply is not None and reply.fault:
            return self._fault(reply, body or {})
        if reply is not None and reply.delay:
            if fake._closing.wait(reply.delay):
                return
        if reply is None:
            reply = self._default(path, body or {})
        elif reply.chat is not None and body and body.get("model") not in fake.models:
            reply = self._unknown_model(body.get("model"))
        if reply.chat is not None:
            return self._send_chat(reply.chat, body or {})
        self._send(reply)

    def _default(self, path: str, body: dict) -> Reply:
        if path == MODELS:
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                    for m in self.fake.models]
            return Reply(body={"object": "list", "data": data}, path=path)
        if path == EMBEDDINGS:
            return self._embeddings(body)
        if path == CHAT:
            if body.get("model") not in self.fake.models:
                return self._unknown_model(body.get("model"))
            return chat("ok")
        return error(404, f"Unknown path {path}", path=path)

    def _unknown_model(self, model: Any) -> Reply:
        return error(404, f"The model `{model}` does not exist or you do not have access to it.",
                     code="model_not_found")

    def _embeddings(self, body: dict) -> Reply:
        if body.get("model") not in self.fake.models:
            return self._unknown_model(body.get("model"))
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = [{"object": "embedding", "index": i, "embedding": _vector(t)}
                for i, t in enumerate(inputs)]
        tokens = sum(max(1, len(t) // 4) for t in inputs)
        return Reply(body={"object": "list", "data": data, "model": body.get("model"),
                           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
                     path=EMBEDDINGS)

    # ------------------------------------------------------------------ faults
    def _fault(self, reply: Reply, body: dict) -> None:
        closing = self.fake._closing
        if reply.fault == "hang":
            closing.wait(600)  # until the test's server closes
            return
        if reply.fault == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            while not closing.wait(reply.interval):
                self.wfile.write(b" ")
                self.wfile.flush()
            return
        if reply.fault == "huge":
            content = "x" * reply.size
            return self._send_chat({"content": content, "refusal": None, "finish_reason": "stop",
                                    "usage": (100, reply.size // 4)}, body)
        # Streams: chunks of advice, then silence or a closed connection.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        n = {"stall_stream": 2, "truncate_stream": 3}.get(reply.fault, 10_000)
        for i in range(n):
            if reply.fault == "drip_stream" and i and closing.wait(reply.interval):
                return
            event = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                     "model": body.get("model"), "choices": [{"index": 0, "delta": {
                         "content": f"Part {i + 1} of the advice. "}, "finish_reason": None}]}
            data = f"data: {json.dumps(event)}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        if reply.fault == "stall_stream":
            closing.wait(600)
        self.close_connection = True  # truncate_stream: gone without the last chunk or [DONE]

    # ------------------------------------------------------------------ writing
    def _send(self, reply: Reply) -> None:
        body = reply.body
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = body or b""
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_chat(self, spec: dict, body: dict) -> None:
        model = body.get("model", "gpt-4o-mini")
        prompt_tokens, completion_tokens = spec["usage"]
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        if not body.get("stream"):
            message = {"role": "assistant", "content": spec["content"], "refusal": spec["refusal"]}
            completion = {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
                          "model": model, "usage": usage,
                          "choices": [{"index": 0, "message": message,
                                       "finish_reason": spec["finish_reason"]}]}
            return self._send(Reply(body=completion))
        self._send_stream(spec, model, usage, body)

    def _send_stream(self, spec: dict, model: str, usage: dict, body: dict) -> None:
        text = spec["content"] or ""
        # Split after spaces so pieces look like tokens; markers may straddle two pieces.
        pieces = [text[i:i + 7] for i in range(0, len(text), 7)] or [""]
        events = []
        for n, piece in enumerate(pieces):
            delta = {"content": piece} if n else {"role": "assistant", "content": piece}
            events.append({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                           "model": model, "choices": [{"index": 0, "delta": delta,
                                                        "finish_reason": None}]})
        events.append({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                       "model": model, "choices": [{"index": 0, "delta": {},
                                                    "finish_reason": spec["finish_reason"]}]})
        if (body.get("stream_options") or {}).get("include_usage") and self.fake.stream_usage:
            events.append({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                           "model": model, "choices": [], "usage": usage})
        data = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        raw = data.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
