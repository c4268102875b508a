"""Batch input and output: rows streamed from JSONL or CSV, results appended durably to OUT.

Input is read one physical line at a time (each line decoded on its own, each capped in
size), so memory stays flat however large the file is and one bad line fails one row.
OUT is append-only JSONL holding one line per input row: the result for the first row with
an id, an error line for every other row; `open_out` restores that invariant on --resume.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Optional

from ...api import MAX_DESCRIPTION_CHARS
from ...errors import UserError

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 4 * 1024 * 1024  # a JSONL line (or CSV physical line) above this fails its row
MAX_ID_CHARS = 200
_BOM = b"\xef\xbb\xbf"
_ID_PEEK = re.compile(r'"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,30})')


class BatchInputError(UserError):
    """A fatal batch problem (unreadable input, OUT in the way): nothing more can run."""

    exit_code = 2


# Errors in the input itself: running the row again gives the same error, so --resume cannot
# fix them (exit 3). Anything else (endpoint, model, internal errors) may pass on a retry (exit 1).
PERMANENT_ERRORS = frozenset({
    "missing_id", "bad_id", "missing_description", "bad_description", "empty_description",
    "description_too_long", "bad_encoding", "bad_json", "bad_csv", "bad_columns", "duplicate_id",
    "invalid_description",
})


@dataclass(slots=True)
class RowError:
    type: str
    message: str
    duplicate_of: Optional[str] = None  # duplicate_id: the id this row repeats


@dataclass(slots=True)
class Row:
    """One input row: where it starts, its id and description, or why it cannot run."""

    line: int
    id: Optional[str]
    description: Optional[str] = None
    error: Optional[RowError] = None


def error_line(row: Row) -> dict:
    """The OUT line of a failed row (DESIGN.md shape, plus the input line number)."""
    assert row.error is not None
    error = {"type": row.error.type, "message": row.error.message}
    if row.error.duplicate_of is not None:
        error["duplicate_of"] = row.error.duplicate_of
    return {"id": row.id, "line": row.line, "error": error}


# --------------------------------------------------------------------------- input

@dataclass
class InputSource:
    """An opened input: its format, a display name, an estimated row count, and its rows."""

    name: str
    fmt: str  # "jsonl" or "csv"
    total: Optional[int]
    _lines: Iterator[tuple[bytes, bool]]
    _stream: Optional[BinaryIO] = None
    _csv: Optional["_CsvInput"] = None

    def rows(self) -> Iterator[Row]:
        """Rows in input order; a row reusing an earlier row's id becomes a duplicate_id error."""
        rows = self._csv.rows() if self._csv else _jsonl_rows(self._lines)
        return claim_ids(rows)

    def close(self) -> None:
        if self._stream is not None and self._stream is not sys.stdin.buffer:
            self._stream.close()


def open_input(spec: str, stdin: Optional[BinaryIO] = None) -> InputSource:
    """Open IN (a path, or '-' for stdin) and detect its format; unreadable input is fatal.

    Format: a .jsonl/.ndjson or .csv suffix decides; otherwise a first non-blank character
    '{' means JSONL and anything else CSV. A CSV header is checked here, before any row runs.
    """
    if spec == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        name, suffix = "stdin", ""
    else:
        path = Path(spec)
        if path.is_dir():
            raise BatchInputError(f"{spec} is a folder: give a JSONL or CSV file, or - for stdin")
        try:
            stream = open(path, "rb")
        except FileNotFoundError:
            raise BatchInputError(f"{spec}: no such file") from None
        except OSError as exc:
            raise BatchInputError(f"cannot read {spec}: {exc.strerror or exc}") from None
        name, suffix = str(path), path.suffix.lower()
    try:
        peek = getattr(stream, "peek", None)
        if peek is not None and b"\x00" in peek(8192)[:8192]:  # text files never hold NUL bytes
            raise BatchInputError(f"{name} is not UTF-8 text (it looks binary): give a JSONL or CSV file")
        lines = read_lines(stream)
        head: list[tuple[bytes, bool]] = []
        first = b""
        for item in lines:  # look ahead to the first non-blank line, keeping what was read
            head.append(item)
            first = item[0].removeprefix(_BOM).strip()
            if first:
                break
        if suffix in (".jsonl", ".ndjson"):
            fmt = "jsonl"
        elif suffix == ".csv":
            fmt = "csv"
        else:
            fmt = "jsonl" if first.startswith(b"{") else "csv"
        _check_text(name, first, fmt)
        total = None if spec == "-" else max(0, count_rows(Path(spec)) - (fmt == "csv"))
        src = InputSource(name, fmt, total, _chain(head, lines), stream)
        if fmt == "csv":
            src._csv = _CsvInput(src._lines, name)
    except OSError as exc:
        stream.close()
        raise BatchInputError(f"cannot read {name}: {exc.strerror or exc}") from None
    except BaseException:
        if stream is not sys.stdin.buffer:
            stream.close()
        raise
    return src


def _check_text(name: str, first: bytes, fmt: str) -> None:
    """A binary file, or a CSV whose header is not UTF-8, is no input at all: say so, once.

    (A JSONL line that is not UTF-8 fails only its own row.)
    """
    if b"\x00" in first:
        raise BatchInputError(f"{name} is not UTF-8 text (it looks binary): give a JSONL or CSV file")
    if fmt != "csv":
        return
    try:
        first.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(first) - 3 or exc.reason != "unexpected end of data":  # not a line cut mid-character
            raise BatchInputError(f"{name} is not UTF-8 text (byte {exc.start + 1} of its first line): "
                                  "save it as UTF-8 JSONL or CSV") from None


def _chain(head: list, rest: Iterator) -> Iterator:
    yield from head
    yield from rest


def read_lines(stream: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[bytes, bool]]:
    """(line, too_long) pairs; a line over `limit` bytes is cut there and its rest skipped."""
    while True:
        raw = stream.readline(limit)
        if not raw:
            return
        if len(raw) >= limit and not raw.endswith(b"\n"):
            while True:  # drain the rest of the line without keeping it
                more = stream.readline(limit)
                if not more or more.endswith(b"\n"):
                    break
            yield raw, True
        else:
            yield raw, False


def count_rows(path: Path, chunk: int = 1 << 20) -> int:
    """Lines in a file, counted in 1 MiB chunks (for the progress bar's total)."""
    n, last = 0, b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (0 if last == b"\n" else 1)


def _peek_id(raw: bytes) -> Optional[str]:
    """The id of a row we cannot parse, when its head shows one plainly (for the error line)."""
    m = _ID_PEEK.search(raw[:4096].decode("utf-8", "replace"))
    if not m:
        return None
    try:
        value = json.loads(m.group(1))
    except ValueError:
        return None
    ok = isinstance(value, (str, int)) and str(value).strip() and _encodable(str(value))
    return str(value) if ok else None


def _jsonl_rows(lines: Iterable[tuple[bytes, bool]]) -> Iterator[Row]:
    for n, (raw, too_long) in enumerate(lines, 1):
        if n == 1:
            raw = raw.removeprefix(_BOM)
        if too_long:
            yield Row(n, _peek_id(raw), error=RowError(
                "description_too_long", f"the row is over {MAX_LINE_BYTES:,} bytes; "
                f"descriptions are limited to {MAX_DESCRIPTION_CHARS:,} characters"))
            continue
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Row(n, _peek_id(raw), error=RowError(
                "bad_encoding", f"line {n} is not valid UTF-8 (byte {exc.start + 1}): save the file as UTF-8"))
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Row(n, _peek_id(raw), error=RowError(
                "bad_json", f"line {n} is not valid JSON ({exc.msg}, column {exc.colno})"))
            continue
        if not isinstance(obj, dict):
            yield Row(n, None, error=RowError(
                "bad_json", f'line {n} is not a JSON object: expected {{"id": …, "description": …}}'))
            continue
        yield make_row(n, obj.get("id"), "description" in obj, obj.get("description"))


class _CsvInput:
    """CSV rows with a checked header; each physical line is decoded on its own."""

    def __init__(self, lines: Iterable[tuple[bytes, bool]], name: str):
        self._raw = lines
        self._bad: dict[int, RowError] = {}  # physical line -> why the record holding it fails
        self.reader = csv.reader(self._text_lines())
        try:
            header = next(self.reader)
        except StopIteration:
            header = None
        except csv.Error as exc:
            raise BatchInputError(f"{name}: unreadable CSV header ({exc})") from None
        self.header = header
        if header is None:
            return
        cols = [h.strip().lower() for h in header]
        if "id" not in cols or "description" not in cols:
            found = ", ".join(h.strip() for h in header[:6]) or "nothing"
            raise BatchInputError(f"{name}: a CSV input needs id and description columns (found: {found}); "
                                  'JSONL input has one {"id": …, "description": …} object per line')
        self.i_id, self.i_desc = cols.index("id"), cols.index("description")

    def _text_lines(self) -> Iterator[str]:
        for n, (raw, too_long) in enumerate(self._raw, 1):
            if n == 1:
                raw = raw.removeprefix(_BOM)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                text = raw.decode("utf-8", "replace")
                self._bad[n] = RowError("bad_encoding", f"line {n} is not valid UTF-8 (byte {exc.start + 1}): "
                                                        "save the file as UTF-8")
            if too_long:
                self._bad[n] = RowError("description_too_long", f"line {n} is over {MAX_LINE_BYTES:,} bytes")
                text += "\n"
            yield text

    def rows(self) -> Iterator[Row]:
        if self.header is None:
            return
        reader, width, prev = self.reader, len(self.header), self.reader.line_num
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                start, prev = prev + 1, reader.line_num
                kind = "description_too_long" if "field larger" in str(exc) else "bad_csv"
                yield Row(start, None, error=RowError(kind, f"line {start}: {exc}"))
                continue
            start, prev = prev + 1, reader.line_num
            errors = [self._bad.pop(k) for k in range(start, prev + 1) if k in self._bad]
            if not any(f.strip() for f in fields):
                continue  # a blank line
            raw_id = fields[self.i_id].strip() if self.i_id < len(fields) else ""
            if errors:
                yield Row(start, raw_id or None, error=errors[0])
            elif len(fields) != width:
                yield Row(start, raw_id or None, error=RowError(
                    "bad_columns", f"line {start} has {len(fields)} fields, the header {width} "
                                   "(quote a description that contains commas)"))
            else:
                yield make_row(start, raw_id, True, fields[self.i_desc])


def make_row(line: int, raw_id: object, has_description: bool, description: object) -> Row:
    """A Row from an id and description as read, checked (its id not yet claimed)."""
    if raw_id is None or raw_id == "":
        return Row(line, None, error=RowError("missing_id", f"line {line} has no id"))
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
        return Row(line, None, error=RowError("bad_id", f"line {line}: the id must be a string or an integer"))
    row_id = str(raw_id)
    if not _encodable(row_id):
        return Row(line, None, error=RowError(
            "bad_encoding", f"line {line}: the id holds a lone surrogate (an escape like \\ud800 that is "
                            "not a character); fix the file's encoding"))
    if not row_id.strip() or len(row_id) > MAX_ID_CHARS or "\n" in row_id or "\r" in row_id:
        return Row(line, None, error=RowError(
            "bad_id", f"line {line}: an id must be one line of 1–{MAX_ID_CHARS} characters"))
    if not has_description or description is None:
        return Row(line, row_id, error=RowError("missing_description", f"id {row_id!r} has no description"))
    if not isinstance(description, str):
        return Row(line, row_id, error=RowError("bad_description", f"id {row_id!r}: the description must be text"))
    if not _encodable(description):
        return Row(line, row_id, error=RowError(
            "bad_encoding", f"id {row_id!r}: the description holds a lone surrogate (an escape like \\ud800 "
                            "that is not a character); fix the file's encoding"))
    if not description.strip():
        return Row(line, row_id, error=RowError("empty_description", f"id {row_id!r} has an empty description"))
    if len(description) > MAX_DESCRIPTION_CHARS:
        return Row(line, row_id, error=RowError(
            "description_too_long", f"id {row_id!r}: the description is {len(description):,} characters; "
                                    f"the limit is {MAX_DESCRIPTION_CHARS:,}"))
    return Row(line, row_id, description)


def _encodable(text: str) -> bool:
    """False for text holding a lone surrogate (JSON allows "\\ud800"; UTF-8 cannot carry it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# Errors found after the id was read cleanly: such a row still owns its id.
_CLAIMING = {"missing_description", "bad_description", "empty_description", "description_too_long"}


def claim_ids(rows: Iterable[Row]) -> Iterator[Row]:
    """Turn every row that reuses an earlier row's id into a duplicate_id error.

    Only rows whose id was read cleanly claim it (an id peeked out of a broken line does not).
    """
    first_line: dict[str, int] = {}
    for row in rows:
        if row.id is not None and (row.error is None or row.error.type in _CLAIMING):
            if row.id in first_line:
                # The line's own id is null: a reader keyed by id must not mistake this
                # error for the first row's result; the repeated id has a field of its own.
                row = Row(row.line, None, error=RowError(
                    "duplicate_id", f"id {row.id!r} was already used on line {first_line[row.id]}; "
                                    "this row was not run", duplicate_of=row.id))
            else:
                first_line[row.id] = row.line
        yield row


# --------------------------------------------------------------------------- output

@dataclass
class OutState:
    """What OUT already held when the run started."""

    done: set[str] = field(default_factory=set)  # ids with a result line: skipped
    kept: int = 0  # result lines kept
    dropped_errors: int = 0  # error lines removed: their rows run again
    torn: bool = False  # a partly written last line was cut off


def open_out(out: Path, resume: bool, *, fsync_every: int = 50,
             fsync_seconds: float = 1.0) -> tuple[OutState, "ResultWriter"]:
    """Lock OUT and get it ready to append to; with --resume, tidy what it already holds.

    Without --resume a non-empty OUT is never touched. With --resume its error lines are
    removed (those rows run again and get exactly one new line) and a torn last line (a kill
    in mid-write) is cut off; removing lines goes through a temporary file and a rename.
    """
    if out.is_dir():
        raise BatchInputError(f"--out {out} is a folder: give a file name")
    if not out.parent.exists():
        raise BatchInputError(f"--out {out}: folder {out.parent} does not exist")
    if not out.parent.is_dir():
        raise BatchInputError(f"--out {out}: {out.parent} is a file, not a folder")
    try:
        existed = out.exists() and out.stat().st_size > 0
        if existed and not resume:
            raise BatchInputError(f"{out} already holds results: pass --resume to continue it (rows done "
                                  "are skipped, failed ones run again), or choose another --out")
        writer = ResultWriter(out, fsync_every=fsync_every, fsync_seconds=fsync_seconds)
        if not existed:
            return OutState(), writer
        try:
            state, good_end = _scan_out(out)
            if state.dropped_errors:
                _rewrite_results(out, good_end)
                writer.reopen()
            elif state.torn:
                os.ftruncate(writer.fd, good_end)
                os.fsync(writer.fd)
        except BaseException:
            writer.close()
            raise
    except OSError as exc:
        raise BatchInputError(write_error(out, exc)) from None
    return state, writer


def write_error(out: Path, exc: OSError) -> str:
    """One line for a failed write to OUT, naming a full disk as a full disk."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"cannot write {out}: the disk is full (or over quota); rows already written are kept, "
                "free some space and run again with --resume")
    return f"cannot write {out}: {exc.strerror or exc}"


def _scan_out(out: Path) -> tuple[OutState, int]:
    """What OUT holds, and the offset where its last complete line ends."""
    state, offset, n = OutState(), 0, 0
    with open(out, "rb") as fh:
        while raw := fh.readline():
            n += 1
            if not raw.endswith(b"\n"):
                state.torn = True  # the last line, cut short by a kill: its row runs again
                break
            obj = _parse_out_line(raw)
            if obj is None:
                raise BatchInputError(f"{out} line {n} is not a batch result line: is --out the right file?")
            offset += len(raw)
            if "error" in obj or not isinstance(obj.get("id"), str):
                state.dropped_errors += 1
            else:
                state.done.add(obj["id"])
                state.kept += 1
    return state, offset


def _parse_out_line(raw: bytes) -> Optional[dict]:
    if not raw.endswith(b"\n"):
        return None
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) and "id" in obj else None


def _rewrite_results(out: Path, good_end: int) -> None:
    """Keep only OUT's result lines (up to good_end), replacing the file atomically."""
    tmp = out.with_name(out.name + ".tmp")
    with open(out, "rb") as src, open(tmp, "wb") as dst:
        offset = 0
        while (raw := src.readline()) and offset + len(raw) <= good_end:
            offset += len(raw)
            obj = json.loads(raw)
            if "error" not in obj and isinstance(obj.get("id"), str):
                dst.write(raw)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, out)
    _fsync_dir(out.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - not possible on every platform
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


class ResultWriter:
    """Appends one JSON line per row, each in a single write, fsync'd periodically.

    A line reaches the OS as soon as its row finishes, so killing the process loses only
    the rows in flight; fsync (every `fsync_every` rows or `fsync_seconds`) bounds what a
    machine crash can lose. An exclusive lock stops two runs appending to the same OUT.
    """

    def __init__(self, path: Path, fsync_every: int = 50, fsync_seconds: float = 1.0):
        self.path = path
        self.fsync_every = max(1, fsync_every)
        self.fsync_seconds = fsync_seconds
        self.fd = -1
        self.written = 0
        self._unsynced = 0
        self._synced_at = time.monotonic()
        self.reopen()

    def reopen(self) -> None:
        """(Re)open the path for appending and lock it (after the file was replaced)."""
        if self.fd >= 0:
            os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory lock
            return
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            self.fd = -1
            raise BatchInputError(f"{self.path} is being written by another advisor batch run") from None

    def write(self, obj: dict) -> None:
        try:
            data = (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate got this far: JSON's \\u escapes still carry it
            data = (json.dumps(obj) + "\n").encode("ascii")
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.written += 1
        self._unsynced += 1
        if self._unsynced >= self.fsync_every or time.monotonic() - self._synced_at >= self.fsync_seconds:
            self.sync()

    def sync(self) -> None:
        if self._unsynced:
            os.fsync(self.fd)
        self._unsynced = 0
        self._synced_at = time.monotonic()

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            self.sync()
        except OSError as exc:  # e.g. the disk filled up: the caller is already reporting a failure
            log.warning("could not sync %s on close: %s", self.path, exc)
        finally:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "ResultWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_out(out: Path) -> Iterator[dict]:
    """OUT's complete lines as objects, streamed (a torn or foreign line is skipped)."""
    with open(out, "rb") as fh:
        for raw in fh:
            obj = _parse_out_line(raw)
            if obj is not None:
                yield obj
