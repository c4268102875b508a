"""`advisor batch`: recommendations for many project descriptions, streamed, durable, resumable.

    IN (JSONL / CSV / stdin) -> rows -> Advisor.recommend -> OUT (JSONL, one line per row)

Reading and writing live in `batch_io`, the report in `batch_report`, the OpenAI Batch API
path in `batch_openai`. The offline engine is CPU-bound: it runs rows in one worker process
per core (`pool`), lines written in input order; the LLM engine keeps up to --concurrency rows
in flight, one Advisor per worker thread.
"""
from __future__ import annotations

import logging
import signal
import threading
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Optional

from rich.console import Console

from ...api import Advisor, Settings
from .files import BatchInputError, OutState, Row, open_input, open_out, write_error
from .pool import run_rows_in_workers, use_workers
from .rows import (EXIT_FATAL, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_RETRYABLE, EXIT_TERMINATED,
                   BatchStats, Null, recommend_row, row_progress, run_rows)

log = logging.getLogger(__name__)

__all__ = ["BatchInputError", "BatchStats", "run_batch", "run_file", "run_rows", "recommend_row", "EXIT_OK", "EXIT_RETRYABLE",
           "EXIT_FATAL", "EXIT_INPUT", "EXIT_INTERRUPTED", "EXIT_TERMINATED"]



def run_batch(settings: Settings, input: str, out: Path, *, engine: Optional[str] = None,
              concurrency: int = 1, resume: bool = False, report: Optional[Path] = None,
              openai_batch: bool = False, console: Optional[Console] = None, advisor=None,
              workers: Optional[int] = None) -> int:
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
            from .openai_batch import run_openai_batch

            if engine == "offline":
                raise BatchInputError("--openai-batch sends the rows to the LLM endpoint: drop --engine offline")
            stats = run_openai_batch(settings, input, out, resume=resume, console=console, advisor=advisor)
        else:
            stats = run_file(settings, input, out, engine=engine, concurrency=concurrency, resume=resume,
                             console=console, advisor=advisor, workers=workers)
    if stats is None:  # interrupted: what was written stays, --resume continues
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    _summary(stats, out, console)
    if report is not None:
        from .report import write_report

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
             fsync_every: int = 50, progress: bool = True, advisor=None,
             workers: Optional[int] = None) -> Optional[BatchStats]:
    """Open IN and OUT, build the Advisor, run every row; None if interrupted (Ctrl-C).

    The offline engine runs rows in `workers` processes (default: one per core, or this process
    alone for a short input or a passed-in `advisor`); OUT is the same either way.
    """
    console = console or Console(stderr=True)
    adv = advisor or Advisor(settings, engine=engine)
    src = open_input(input)
    try:
        if adv.engine_choice == "llm" and not settings.llm_configured:
            adv.engine  # noqa: B018 - raises the UserError that says how to configure it
        state, writer = open_out(out, resume, fsync_every=fsync_every)
        with writer:
            _notice_resume(state, out, console)
            with console.status("Loading the knowledge index…") if console.is_terminal else Null():
                adv.index  # noqa: B018 - built (about 12 s) or loaded before the clock starts
            offline = adv.engine is adv.offline
            if offline and concurrency > 1:
                console.print("[dim]--concurrency applies to the LLM engine; the offline engine uses "
                              "--workers processes.[/dim]")
            total = None if src.total is None else max(0, src.total - len(state.done))
            # Workers load the index from the cache just written; with no cache, each would build it.
            procs = 1 if not offline or adv.index.data.path is None or (workers is None and advisor is not None) \
                else use_workers(workers, total)
            recommend = _threaded_recommender(adv) if not offline else (lambda row: recommend_row(adv, row))
            stats = BatchStats(out_state=state)
            with row_progress(console, total, enabled=progress) as bar:
                try:
                    if procs > 1:
                        run_rows_in_workers(src.rows(), state.done, writer, settings, stats, workers=procs,
                                            on_row=bar.advance)
                    else:
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
                except BrokenProcessPool:  # a worker was killed (out of memory, kill -9)
                    writer.sync()
                    raise BatchInputError(f"a worker process died; {writer.written:,} rows are in {out}: "
                                          "run again with --resume to continue") from None
            return stats
    finally:
        src.close()


def _threaded_recommender(adv) -> Callable[[Row], dict]:
    """recommend_row with one Advisor per worker thread, all sharing `adv`'s index and quotes.

    The LLM engine keeps per-turn state (call budget, notices), so threads must not share one.
    """
    lock, local = threading.Lock(), threading.local()

    def recommend(row: Row) -> dict:
        mine = getattr(local, "advisor", None)
        if mine is None:
            with lock:
                mine = local.advisor = adv.sibling()
        return recommend_row(mine, row)

    return recommend



# --------------------------------------------------------------------------- display


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
