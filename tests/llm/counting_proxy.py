"""A loopback proxy in front of a real OpenAI-compatible server that writes down every call.

For each request it keeps what the advisor asked for (path, max_tokens, response_format,
stream), what the server answered (status, and the token counts the server itself reported,
from the JSON body or the stream's usage chunk) and how long it took. The real-server test
compares these with what the advisor recorded and with the advisor's caps and budgets.
"""
from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import urlsplit

_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive",
        "accept-encoding"}


class CountingProxy:
    """Use as a context manager; `url` is the proxy's /v1 base URL, `calls` the record."""

    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.calls: list[dict] = []
        self._lock = threading.Lock()
        self._httpd: Optional[ThreadingHTTPServer] = None

    def __enter__(self) -> "CountingProxy":
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda request, address: None
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def chats(self) -> list[dict]:
        with self._lock:
            return [c for c in self.calls if c["path"].endswith("/chat/completions")]

    def _add(self, call: dict) -> None:
        with self._lock:
            self.calls.append(call)


class _Handler(BaseHTTPRequestHandler):
    proxy: CountingProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._forward(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._forward(self.rfile.read(length) if length else b"")

    def _forward(self, body: bytes) -> None:
        try:
            sent = json.loads(body) if body else {}
        except ValueError:
            sent = {}
        call = {"path": self.path, "stream": bool(sent.get("stream")),
                "max_tokens": sent.get("max_tokens"),
                "response_format": (sent.get("response_format") or {}).get("type"),
                "has_schema": "schema" in (sent.get("response_format") or {})
                              or "json_schema" in (sent.get("response_format") or {}),
                "n_messages": len(sent.get("messages") or []), "status": None, "usage": None,
                "finish_reason": None, "start": time.monotonic(), "end": None}
        self.proxy._add(call)  # visible at once; filled in as the reply comes
        upstream = http.client.HTTPConnection(self.proxy.host, self.proxy.port, timeout=900)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        try:
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            resp = upstream.getresponse()
            call["status"] = resp.status
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP:
                    self.send_header(k, v)
            if "text/event-stream" in (resp.getheader("Content-Type") or ""):
                self._relay_stream(resp, call)
            else:
                data = resp.read()
                if self._client_gone():
                    # Cut off by the advisor's deadline: the server did the work, but its
                    # counts never reached the advisor, so they are not the session's.
                    call["status"] = "client gone"
                    return
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                try:
                    parsed = json.loads(data)
                    call["usage"] = parsed.get("usage")
                    call["finish_reason"] = (parsed.get("choices") or [{}])[0].get("finish_reason")
                except (ValueError, AttributeError):
                    pass
        except (BrokenPipeError, ConnectionResetError):
            call["status"] = call["status"] or "client gone"
        finally:
            call["end"] = time.monotonic()
            upstream.close()

    def _client_gone(self) -> bool:
        """Has the advisor closed its end? (A write would still succeed once.)"""
        sock = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _relay_stream(self, resp, call: dict) -> None:
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            line = resp.readline()
            if not line:
                break
            if line.startswith(b"data: ") and line.strip() != b"data: [DONE]":
                try:
                    event = json.loads(line[6:])
                    call["usage"] = event.get("usage") or call["usage"]
                    for choice in event.get("choices") or []:
                        call["finish_reason"] = choice.get("finish_reason") or call["finish_reason"]
                except ValueError:
                    pass
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
