"""The rows of a batch: run each one (in order, or several in flight), write it, count it, show progress."""
from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskProgressColumn,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

from ...api import check_text, to_json
from ...errors import EndpointError, ModelBehaviorError, UserError
from .files import PERMANENT_ERRORS, OutState, ResultWriter, Row, RowError, error_line

log = logging.getLogger(__name__)

# Exit codes (documented in the README): a script can tell "fix the input" from "try again".
EXIT_OK = 0
EXIT_RETRYABLE = 1  # some rows failed in a way a retry may fix (endpoint, model, internal): --resume
EXIT_FATAL = 2  # nothing could run, or OUT / the report could not be written
EXIT_INPUT = 3  # every failure is in the input itself (bad id, bad JSON, duplicate…): --resume cannot fix it
EXIT_INTERRUPTED = 130  # Ctrl-C; SIGTERM gives 143. What was written stays; --resume continues
EXIT_TERMINATED = 143


@dataclass
class BatchStats:
    """What one run did."""

    ok: int = 0
    failed: int = 0
    skipped: int = 0  # ids already done in OUT (--resume)
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)  # error type -> rows
    out_state: OutState = field(default_factory=OutState)

    @property
    def rows(self) -> int:
        return self.ok + self.failed

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def retryable(self) -> int:
        """Failed rows whose error a retry may fix."""
        return sum(n for kind, n in self.errors.items() if kind not in PERMANENT_ERRORS)

    @property
    def exit_code(self) -> int:
        if not self.failed:
            return EXIT_OK
        return EXIT_RETRYABLE if self.retryable else EXIT_INPUT


def run_rows(rows: Iterable[Row], done: set[str], writer: ResultWriter,
             recommend: Callable[[Row], dict], stats: BatchStats, *, concurrency: int = 1,
             on_row: Callable[[bool], None] = lambda ok: None) -> BatchStats:
    """Run rows (skipping ids in `done`), writing each line as it finishes.

    With concurrency > 1 at most that many rows are in flight in a thread pool; their lines
    come out in completion order. Input problems are written at once, in input order.
    """
    start = time.perf_counter()

    def emit(line: dict) -> None:
        writer.write(line)
        count_line(line, stats)
        on_row(not line.get("error"))

    try:
        if concurrency <= 1:
            for row in rows:
                if row.error is None and row.id in done:
                    stats.skipped += 1
                    continue
                emit(error_line(row) if row.error else recommend(row))
            return stats
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="batch")
        inflight: set[Future] = set()
        try:
            for row in rows:
                if row.error is None and row.id in done:
                    stats.skipped += 1
                    continue
                if row.error:
                    emit(error_line(row))
                    continue
                while len(inflight) >= concurrency:
                    finished, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                    for f in finished:
                        emit(f.result())
                inflight.add(pool.submit(recommend, row))
            for f in _as_completed(inflight):
                emit(f.result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return stats
    finally:
        stats.seconds = time.perf_counter() - start


def count_line(line: dict, stats: BatchStats) -> None:
    """Count one written OUT line as ok or failed (by error type)."""
    err = line.get("error")
    if err:
        stats.failed += 1
        stats.errors[err["type"]] = stats.errors.get(err["type"], 0) + 1
    else:
        stats.ok += 1


def _as_completed(futures: set[Future]):
    pending = set(futures)
    while pending:
        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
        yield from finished


def recommend_row(adv, row: Row) -> dict:
    """The OUT line for one row: the recommendation plus id, or an error line.

    A description the advisor refuses fails its row; a UserError from anywhere else is a
    configuration problem that would fail every row, so it stops the batch.
    """
    try:
        check_text(row.description)
    except UserError as exc:
        return error_line(_failed(row, "invalid_description", str(exc)))
    try:
        rec = adv.recommend(row.description)
    except UserError:
        raise
    except EndpointError as exc:
        return error_line(_failed(row, "endpoint_error", str(exc)))
    except ModelBehaviorError as exc:
        return error_line(_failed(row, "model_error", str(exc)))
    except Exception as exc:  # noqa: BLE001 - one row's bug must not stop the other rows
        if adv.settings.debug:
            raise
        log.warning("row %s failed", row.id, exc_info=True)
        return error_line(_failed(row, "internal_error", f"{type(exc).__name__}: {exc}"))
    return {"id": row.id, **to_json(rec)}


def _failed(row: Row, kind: str, message: str) -> Row:
    return Row(row.line, row.id, error=RowError(kind, message))


class _RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} rows/s" if speed else "– rows/s", style="progress.data.speed")


class _Bar:
    def __init__(self, progress: Optional[Progress], task):
        self.progress, self.task, self.failed = progress, task, 0

    def advance(self, ok: bool) -> None:
        if self.progress is None:
            return
        self.failed += not ok
        self.progress.update(self.task, advance=1, failed=self.failed)


class row_progress:  # noqa: N801 - used like a function
    """A rich progress bar on stderr: rows, rate, elapsed and ETA (a spinner when the total is unknown)."""

    def __init__(self, console: Console, total: Optional[int], enabled: bool = True):
        self.console, self.total, self.enabled = console, total, enabled
        self.progress: Optional[Progress] = None

    def __enter__(self) -> _Bar:
        if not self.enabled:
            return _Bar(None, None)
        self.progress = Progress(
            TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            _RateColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("[red]{task.fields[failed]} failed"), console=self.console, transient=False,
            refresh_per_second=4)
        self.progress.__enter__()
        task = self.progress.add_task("batch", total=self.total, failed=0)
        return _Bar(self.progress, task)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            task = self.progress.tasks[0]
            self.progress.update(task.id, total=task.completed)  # an estimated total ends at 100%
            self.progress.__exit__(*exc)


class Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
