"""`advisor batch`: recommendations for many project descriptions, streamed, durable, resumable.

    IN (JSONL / CSV / stdin) -> rows -> Advisor.recommend -> OUT (JSONL, one line per row)

Reading and writing live in `batch_io`, the report in `batch_report`, the OpenAI Batch API
path in `batch_openai`. The offline engine runs rows one at a time (it is CPU-bound); the
LLM engine keeps up to --concurrency rows in flight, one Advisor per worker thread.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskProgressColumn,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

from .batch_io import (PERMANENT_ERRORS, BatchInputError, OutState, ResultWriter, Row, RowError, error_line,
                       open_input, open_out, write_error)
from .errors import EndpointError, ModelBehaviorError, UserError
from .settings import Settings

log = logging.getLogger(__name__)

__all__ = ["BatchInputError", "BatchStats", "run_batch", "run_rows", "recommend_row"]

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


def run_batch(settings: Settings, input: str, out: Path, *, engine: Optional[str] = None,
              concurrency: int = 1, resume: bool = False, report: Optional[Path] = None,
              openai_batch: bool = False, console: Optional[Console] = None, advisor=None) -> int:
    """Run a batch for the CLI; returns the exit code (EXIT_* above).

    A fatal problem (unreadable IN, OUT in the way) raises BatchInputError, a UserError
    whose `exit_code` is 2. `advisor` (an agent.api.Advisor) may be passed in to reuse one.
    """
    console = console or Console(stderr=True)
    out = Path(out)
    if input != "-" and Path(input).exists() and out.exists() and Path(input).resolve() == out.resolve():
        raise BatchInputError("--out must not be the input file")
    if report is not None:
        _check_report_folder(Path(report))  # before any row runs, not after an hour of them
    with _sigterm_as_interrupt() as terminated:
        if openai_batch:
            from .batch_openai import run_openai_batch

            if engine == "offline":
                raise BatchInputError("--openai-batch sends the rows to the LLM endpoint: drop --engine offline")
            stats = run_openai_batch(settings, input, out, resume=resume, console=console, advisor=advisor)
        else:
            stats = run_file(settings, input, out, engine=engine, concurrency=concurrency, resume=resume,
                             console=console, advisor=advisor)
    if stats is None:  # interrupted: what was written stays, --resume continues
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    _summary(stats, out, console)
    if report is not None:
        from .batch_report import write_report

        try:
            paths = write_report(out, Path(report))
        except OSError as exc:
            raise BatchInputError(f"the rows are in {out}, but the report could not be written: "
                                  f"{write_error(Path(report), exc).removeprefix('cannot write ')}") from None
        console.print(f"Report: {paths['summary']} and {paths['csv']}", highlight=False)
    return stats.exit_code


def _check_report_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise BatchInputError(f"--report {folder} is a file: give a folder (it is created if missing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchInputError(f"--report {folder}: cannot create the folder ({exc.strerror or exc})") from None


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled exactly like Ctrl-C: rows written are synced, --resume continues."""


@contextmanager
def _sigterm_as_interrupt():
    """While the batch runs, SIGTERM raises _Terminated in the main thread; yields a list that is
    non-empty once it did."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def handler(signum, frame):
        seen.append(signum)
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_file(settings: Settings, input: str, out: Path, *, engine: Optional[str] = None,
             concurrency: int = 1, resume: bool = False, console: Optional[Console] = None,
             fsync_every: int = 50, progress: bool = True, advisor=None) -> Optional[BatchStats]:
    """Open IN and OUT, build the Advisor, run every row; None if interrupted (Ctrl-C)."""
    from .api import Advisor

    console = console or Console(stderr=True)
    adv = advisor or Advisor(settings, engine=engine)
    src = open_input(input)
    try:
        if adv.engine_choice == "llm" and not settings.llm_configured:
            adv.engine  # noqa: B018 - raises the UserError that says how to configure it
        state, writer = open_out(out, resume, fsync_every=fsync_every)
        with writer:
            _notice_resume(state, out, console)
            with console.status("Loading the knowledge index…") if console.is_terminal else _Null():
                adv.index  # noqa: B018 - built (about 12 s) or loaded before the clock starts
            offline = adv.engine is adv.offline
            if offline and concurrency > 1:
                console.print("[dim]--concurrency applies to the LLM engine; the offline engine runs "
                              "one row at a time.[/dim]")
            total = None if src.total is None else max(0, src.total - len(state.done))
            recommend = _threaded_recommender(adv) if not offline else (lambda row: recommend_row(adv, row))
            stats = BatchStats(out_state=state)
            with row_progress(console, total, enabled=progress) as bar:
                try:
                    run_rows(src.rows(), state.done, writer, recommend, stats,
                             concurrency=1 if offline else concurrency, on_row=bar.advance)
                except KeyboardInterrupt as exc:
                    writer.sync()
                    what = "terminated" if isinstance(exc, _Terminated) else "interrupted"
                    console.print(f"{what}: {writer.written:,} rows written to {out}; "
                                  "run again with --resume to continue")
                    return None
                except OSError as exc:  # OUT could not be written (a full disk): every later row would fail too
                    raise BatchInputError(write_error(out, exc)) from None
            return stats
    finally:
        src.close()


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
        err = line.get("error")
        if err:
            stats.failed += 1
            stats.errors[err["type"]] = stats.errors.get(err["type"], 0) + 1
        else:
            stats.ok += 1
        on_row(not err)

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
    from .api import check_text
    from .render import to_json

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


def _threaded_recommender(adv) -> Callable[[Row], dict]:
    """recommend_row with one Advisor per worker thread, all sharing `adv`'s index and citer.

    The LLM engine keeps per-turn state (call budget, notices), so threads must not share
    one; the citer (local embeddings in C) is shared behind a lock.
    """
    from .api import Advisor

    shared_index, citer, lock = adv.index, _LockedCiter(adv.citer), threading.Lock()
    local = threading.local()

    def recommend(row: Row) -> dict:
        mine = getattr(local, "advisor", None)
        if mine is None:
            with lock:
                mine = Advisor(adv.settings, engine=adv.engine_choice)
                mine.__dict__["index"] = shared_index  # cached_property: set once, never rebuilt
                mine.__dict__["citer"] = citer
                local.advisor = mine
        return recommend_row(mine, row)

    return recommend


class _LockedCiter:
    """A Citer whose lookups run one at a time (the embedder is not known to be thread-safe)."""

    def __init__(self, citer):
        self._citer, self._lock = citer, threading.Lock()

    def cite(self, section_id: str, about: str):
        with self._lock:
            return self._citer.cite(section_id, about)

    def __getattr__(self, name: str):
        return getattr(self._citer, name)


# --------------------------------------------------------------------------- display

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


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _notice_resume(state: OutState, out: Path, console: Console) -> None:
    if not (state.kept or state.dropped_errors or state.torn):
        return
    parts = [f"{_n(state.kept, 'row')} already done (skipped)"]
    if state.dropped_errors:
        parts.append(f"{_n(state.dropped_errors, 'failed row')} to run again")
    if state.torn:
        parts.append("a partly written last line removed")
    console.print(f"Resuming {out}: " + ", ".join(parts), highlight=False, soft_wrap=True)


def _summary(stats: BatchStats, out: Path, console: Console) -> None:
    rate = f" ({stats.rate:,.1f} rows/s)" if stats.seconds >= 1 else ""
    line = f"{_n(stats.rows, 'row')} in {stats.seconds:.1f} s{rate}: {stats.ok:,} ok, {stats.failed:,} failed"
    if stats.skipped:
        line += f", {stats.skipped:,} already done"
    if stats.errors:
        line += " (" + ", ".join(f"{k} {v}" for k, v in sorted(stats.errors.items())) + ")"
    console.print(f"{line} -> {out}", highlight=False, soft_wrap=True)
