"""A network layer under the HTTP client that holds every read to a wall-clock deadline and a size cap.

httpx's time-outs apply to each socket read, so a server that trickles one byte every few
seconds is never cut off. Here every connect, write and read gets at most what is left of the
active call's deadline, and the bytes read per call are counted, so a call ends on time and a
huge reply is cut off, whatever the server does. The active call is per thread.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Optional

_local = threading.local()


@dataclass
class Scope:
    """One call's limits: an absolute deadline (time.monotonic) and a reply-size cap in bytes."""

    deadline: float
    max_bytes: int
    read: int = 0
    expired: bool = False  # set when the deadline cut a read short
    overflow: bool = False  # set when the reply passed max_bytes

    def left(self) -> float:
        return self.deadline - time.monotonic()


def current() -> Optional[Scope]:
    """The calling thread's active scope, if any."""
    return getattr(_local, "scope", None)


@contextmanager
def using(sc: Scope) -> Iterator[Scope]:
    """Bound every network operation of this thread by `sc` while inside."""
    previous, _local.scope = current(), sc
    try:
        yield sc
    finally:
        _local.scope = previous


def scope(deadline: float, max_bytes: int):
    """Bound every network operation of this thread to `deadline` and `max_bytes` while inside."""
    return using(Scope(deadline, max_bytes))


def _bound(timeout: Optional[float]) -> Optional[float]:
    s = current()
    if s is None:
        return timeout
    left = s.left()
    if left <= 0:
        import httpcore2

        s.expired = True
        raise httpcore2.ReadTimeout("the call's time budget ran out")
    return left if timeout is None else min(timeout, left)


class _Stream:
    """A network stream whose every operation respects the thread's scope."""

    def __init__(self, inner: Any):
        self._inner = inner

    def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        import httpcore2

        bounded = _bound(timeout)
        try:
            data = self._inner.read(max_bytes, bounded)
        except httpcore2.ReadTimeout:
            s = current()
            if s is not None and s.left() <= 0.05:
                s.expired = True
            raise
        s = current()
        if s is not None:
            s.read += len(data)
            if s.read > s.max_bytes:
                s.overflow = True
                raise httpcore2.ReadError(f"reply larger than {s.max_bytes:,} bytes")
        return data

    def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        self._inner.write(buffer, _bound(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: Optional[str] = None,
                  timeout: Optional[float] = None) -> "_Stream":
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _bound(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class BoundedBackend:
    """httpcore2's network backend, wrapped so that connections respect the thread's scope."""

    def __init__(self, inner: Any):
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: Optional[float] = None,
                    local_address: Optional[str] = None, socket_options: Any = None) -> _Stream:
        return _Stream(self._inner.connect_tcp(host, port, _bound(timeout), local_address,
                                               socket_options))

    def connect_unix_socket(self, path: str, timeout: Optional[float] = None,
                            socket_options: Any = None) -> _Stream:
        return _Stream(self._inner.connect_unix_socket(path, _bound(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def http_client(timeout: float) -> Any:
    """The openai SDK's default HTTP client, with the bounded backend under its connection pool."""
    import httpx2
    import openai

    transport = httpx2.HTTPTransport()
    pool = getattr(transport, "_pool", None)
    # The backend is chosen when a connection is made, so swapping it here covers them all.
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = BoundedBackend(pool._network_backend)
    return openai.DefaultHttpxClient(transport=transport, timeout=timeout)
