"""`advisor batch --openai-batch`: the whole file through OpenAI's Batch API (half price, slower).

    submit  rows -> one /v1/chat/completions extraction request per row (`batch_request`)
            -> upload the requests file (purpose "batch") -> create the batch
            -> save the batch id in OUT.openai-batch.json
    wait    poll the batch, with a progress bar, until it ends (Ctrl-C leaves it running)
    merge   stream the output file to disk -> for each input row: the model's reply -> Profile
            (the offline reading when a request failed or its reply does not fit) -> the same
            policy and advice as `recommend` -> OUT; then the state file is removed

`--resume` with a state file waits for that batch instead of submitting another; a merge cut
short is finished by the same command (rows already in OUT are skipped). Only the extraction
is the model's: the decision is made by `policy.decide`, as everywhere else.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

from rich.console import Console

from ...api import ENDPOINT, Advisor, ReplyEngine, ReplyIndex, Settings, batch_request, describe_endpoint_failure
from ...errors import EndpointError, UserError
from .files import BatchInputError, Row, open_input, open_out
from .rows import BatchStats, recommend_row, row_progress, run_rows
MAX_REQUESTS = 50_000  # the Batch API's limit per batch
POLL_SECONDS = (5.0, 60.0)  # first wait, longest wait (doubling in between)
MAX_POLL_FAILURES = 5
FILE_TIMEOUT = 300.0
TERMINAL = {"completed", "failed", "expired", "cancelled"}
NO_KEY = "no-key-needed"


class _Paths:
    def __init__(self, out: Path):
        self.state = out.with_name(out.name + ".openai-batch.json")
        self.requests = out.with_name(out.name + ".openai-batch.requests.jsonl")
        self.output = out.with_name(out.name + ".openai-batch.output.jsonl")
        self.input = out.with_name(out.name + ".openai-batch.input")  # stdin, kept for the merge

    def cleanup(self) -> None:
        for p in (self.state, self.requests, self.output, self.input):
            p.unlink(missing_ok=True)


def run_openai_batch(settings: Settings, input: str, out: Path, *, resume: bool = False,
                     console: Optional[Console] = None, client: Any = None,
                     sleep: Callable[[float], None] = time.sleep, advisor=None) -> Optional[BatchStats]:
    """Submit (or, with a saved batch id, wait for) a Batch API job and merge it into OUT.

    Returns None when interrupted: the batch keeps running and --resume picks it up.
    """
    console = console or Console(stderr=True)
    if not settings.llm_configured:
        raise UserError("--openai-batch needs an endpoint: set OPENAI_API_KEY (and OPENAI_BASE_URL for "
                        "another server), or drop --openai-batch to run the rows here")
    paths = _Paths(out)
    state = _load_state(paths.state)
    if state and not resume:
        raise BatchInputError(f"batch {state['batch_id']} for {out} is already submitted: run again with "
                              f"--resume to wait for it and merge, or delete {paths.state} to forget it")
    if state is None and input != "-":
        open_input(input).close()  # an unreadable IN fails before anything is created
    client = client or _client(settings)
    out_state, writer = open_out(out, resume)
    with writer:
        if state is None:
            source = _spool_stdin(paths.input) if input == "-" else str(Path(input).resolve())
            state = _submit(settings, client, source, paths, out_state.done, console)
        batch = None
        if state.get("batch_id"):
            batch = _wait(client, state, console, sleep)
            if batch is None:
                console.print(f"stopped waiting: batch {state['batch_id']} keeps running at the endpoint; "
                              "run the same command with --resume to wait for it and merge", highlight=False)
                return None
            if batch.status == "failed":
                paths.cleanup()
                raise EndpointError(f"the endpoint rejected batch {batch.id} ({_batch_errors(batch)}); "
                                    "nothing was written")
            _download(client, batch, paths.output)
        base = advisor or Advisor(settings, engine="offline")
        replies = ReplyIndex(paths.output)
        replay = ReplyEngine(base.offline, replies, _missing_reason(batch))
        adv = base.sibling(engine=replay)  # reads the Batch API's replies; shares the loaded index
        stats = BatchStats(out_state=out_state)
        src = open_input(state["input"])
        try:
            with row_progress(console, src.total) as bar:
                run_rows(src.rows(), out_state.done, writer, lambda row: _merge_row(adv, replay, row),
                         stats, on_row=bar.advance)
        except KeyboardInterrupt:
            writer.sync()
            console.print("interrupted while merging: run the same command with --resume to finish")
            return None
        finally:
            src.close()
            replies.close()
    paths.cleanup()
    if batch is not None:
        console.print(f"Batch {batch.id} {batch.status}: {replay.from_model:,} rows read by the model, "
                      f"{replay.fell_back:,} by the offline engine", highlight=False)
    return stats


# --------------------------------------------------------------------------- submit

def _client(settings: Settings) -> Any:
    import openai

    key = settings.openai_api_key
    return openai.OpenAI(api_key=key.get_secret_value() if key else NO_KEY, base_url=settings.openai_base_url,
                         max_retries=0, timeout=settings.llm_timeout)


def _endpoint_error(settings: Settings, exc: Exception, doing: str) -> Exception:
    """One line for an openai failure."""
    return EndpointError(f"{doing}: {describe_endpoint_failure(settings, exc)}")


def _spool_stdin(path: Path) -> str:
    """Copy stdin to a file next to OUT: the merge reads the rows a second time."""
    with open(path, "wb") as fh:
        shutil.copyfileobj(sys.stdin.buffer, fh, 1 << 20)
    return str(path)


def _submit(settings: Settings, client: Any, source: str, paths: _Paths, done: set[str],
            console: Console) -> dict:
    src = open_input(source)
    n = 0
    try:
        with open(paths.requests, "w", encoding="utf-8") as fh:
            for row in src.rows():
                if row.error is None and row.id not in done:
                    fh.write(json.dumps(batch_request(row.id, row.description, settings), ensure_ascii=False) + "\n")
                    n += 1
    finally:
        src.close()
    if n > MAX_REQUESTS:
        paths.requests.unlink(missing_ok=True)
        raise BatchInputError(f"{n:,} rows to send, but a Batch API job takes at most {MAX_REQUESTS:,}: "
                              "split the input")
    state: dict = {"input": source, "requests": n, "model": settings.model, "batch_id": None}
    try:
        if n:
            try:
                with open(paths.requests, "rb") as fh:
                    uploaded = client.with_options(timeout=FILE_TIMEOUT).files.create(
                        file=(paths.requests.name, fh), purpose="batch")
                batch = client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT,
                                              completion_window="24h",
                                              metadata={"advisor_out": paths.state.name[:500]})
            except Exception as exc:  # noqa: BLE001 - every openai failure becomes one line
                raise _endpoint_error(settings, exc, "submitting the batch failed") from exc
            state.update(batch_id=batch.id, input_file_id=uploaded.id, submitted_at=int(time.time()))
            console.print(f"Submitted {n:,} requests as batch {batch.id} ({settings.model})", highlight=False)
        _save_state(paths.state, state)
    finally:
        paths.requests.unlink(missing_ok=True)
    return state


def _save_state(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _load_state(path: Path) -> Optional[dict]:
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text("utf-8"))
        assert isinstance(state, dict) and "input" in state
        return state
    except (ValueError, AssertionError):
        raise BatchInputError(f"{path} is not a batch state file: delete it to start over") from None


# --------------------------------------------------------------------------- wait

def _wait(client: Any, state: dict, console: Console, sleep: Callable[[float], None]) -> Any:
    """Poll until the batch ends; None if interrupted."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    delay, failures, batch = POLL_SECONDS[0], 0, None
    columns = (TextColumn("[bold]openai batch"), TextColumn("{task.fields[status]}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("wait", total=state["requests"] or None, status="…")
            while True:
                try:
                    batch = client.batches.retrieve(state["batch_id"])
                    failures = 0
                except Exception as exc:  # noqa: BLE001 - a hiccup while polling is retried
                    failures += 1
                    if failures >= MAX_POLL_FAILURES:
                        raise EndpointError(f"cannot check batch {state['batch_id']} ({type(exc).__name__}); "
                                            "run again with --resume later") from exc
                    sleep(delay)
                    continue
                counts = getattr(batch, "request_counts", None)
                finished = (getattr(counts, "completed", 0) or 0) + (getattr(counts, "failed", 0) or 0)
                progress.update(task, completed=finished, status=batch.status)
                if batch.status in TERMINAL:
                    break
                sleep(delay)
                delay = min(delay * 2, POLL_SECONDS[1])
    except KeyboardInterrupt:
        return None
    return batch


def _batch_errors(batch: Any) -> str:
    errors = getattr(getattr(batch, "errors", None), "data", None) or []
    return "; ".join(f"{getattr(e, 'code', '')}: {getattr(e, 'message', '')}" for e in errors[:3]) or "no reason given"


def _download(client: Any, batch: Any, path: Path) -> None:
    """Stream the batch's output and error files into one local file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        for file_id in (getattr(batch, "output_file_id", None), getattr(batch, "error_file_id", None)):
            if not file_id:
                continue
            try:
                with client.with_options(timeout=FILE_TIMEOUT).files.with_streaming_response.content(file_id) as resp:
                    for chunk in resp.iter_bytes():
                        fh.write(chunk)
            except Exception as exc:  # noqa: BLE001
                raise EndpointError(f"downloading {file_id} of batch {batch.id} failed ({type(exc).__name__}); "
                                    "run again with --resume") from exc
            fh.write(b"\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- merge

def _missing_reason(batch: Any) -> str:
    if batch is None:
        return "no request was sent for this row"
    if batch.status in ("expired", "cancelled"):
        return f"batch {batch.id} {batch.status} before this row was answered"
    return "the Batch API returned no answer for this row"


def _merge_row(adv: Any, replay: ReplyEngine, row: Row) -> dict:
    replay.row_id = row.id
    return recommend_row(adv, row)
