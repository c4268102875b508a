"""SQLite session store shared by the terminal chat, the Slack bot and batch.

The schema grows only through named migrations appended to `MIGRATIONS` (never edit or
reorder one that has shipped); every store migrates on open, so old and new files behave alike.
"""
from __future__ import annotations

import errno
import json
import logging
import re
import secrets
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator, Optional

from pydantic import BaseModel, ValidationError

from agent.errors import UserError
from agent.types import InterviewState

log = logging.getLogger(__name__)

TITLE_CHARS = 60
SEEN_EVENTS_KEEP = timedelta(days=7)  # Slack retries within minutes; a week keeps the table small
EMPTY_USAGE = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "est_cost_usd": 0.0}
Migration = Callable[[sqlite3.Connection], None]


def _sql(*statements: str) -> Migration:
    """A migration that runs these statements in order."""
    def run(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)
    return run


MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_sessions", _sql(
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, channel TEXT NOT NULL, key TEXT,"
        " created_at TEXT NOT NULL, updated_at TEXT NOT NULL, title TEXT NOT NULL DEFAULT '',"
        " state TEXT NOT NULL, decision TEXT, usage TEXT NOT NULL)",
        "CREATE UNIQUE INDEX sessions_channel_key ON sessions (channel, key) WHERE key IS NOT NULL",
    )),
    ("m002_seen_events", _sql("CREATE TABLE seen_events (event_id TEXT PRIMARY KEY, seen_at TEXT NOT NULL)")),
    ("m003_sessions_updated_index", _sql("CREATE INDEX sessions_updated_at ON sessions (updated_at)")),
    # The Slack bot's durable inbox: a request is stored before it is acknowledged and worked
    # from here, so a crash or restart finishes it; `outbox` holds the replies of a turn that is
    # already saved (status 'answered'), so a restart posts them without re-running the turn.
    ("m004_inbox", _sql(
        "CREATE TABLE inbox (id TEXT PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL,"
        " received_at TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',"
        " attempts INTEGER NOT NULL DEFAULT 0, outbox TEXT, sent INTEGER NOT NULL DEFAULT 0, done_at TEXT)",
        "CREATE INDEX inbox_status ON inbox (status, received_at)",
    )),
]
SCHEMA_VERSION = len(MIGRATIONS)  # PRAGMA user_version of a database this advisor wrote
INBOX_KEEP = timedelta(days=7)  # finished inbox rows are kept this long (Slack retries for minutes)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error (conn must be in autocommit mode)."""
    # IMMEDIATE takes the write lock up front, so a busy database waits (busy_timeout) at
    # BEGIN instead of failing mid-transaction when a read would upgrade to a write.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _applied(conn: sqlite3.Connection) -> set[str]:
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name='_migrations'").fetchone():
        return set()
    return {row[0] for row in conn.execute("SELECT name FROM _migrations")}


class NewerDatabaseError(UserError):
    """The database was written by a newer advisor: this one must not change it."""


def newer_migrations(conn: sqlite3.Connection, migrations: Optional[list[tuple[str, Migration]]] = None) -> list[str]:
    """Migrations the database has that this advisor does not know (a newer advisor wrote it)."""
    known = {name for name, _ in (MIGRATIONS if migrations is None else migrations)}
    return sorted(_applied(conn) - known)


def migrate(conn: sqlite3.Connection, migrations: Optional[list[tuple[str, Migration]]] = None) -> None:
    """Apply, in order and in one transaction, every migration not yet recorded in `_migrations`.

    A database holding migrations this advisor does not know is refused (NewerDatabaseError):
    its tables may carry columns or rules our writes would break.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    # A plain read first, so an up-to-date database opens without taking the write lock.
    applied = _applied(conn)
    if applied - {name for name, _ in migrations}:
        raise NewerDatabaseError("newer")
    if {name for name, _ in migrations} <= applied:
        return
    with _transaction(conn):
        conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        applied = _applied(conn)  # again: another process may have migrated in the meantime
        if applied - {name for name, _ in migrations}:
            raise NewerDatabaseError("newer")
        for name, fn in migrations:
            if name not in applied:
                fn(conn)
                conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, _now()))
        conn.execute(f"PRAGMA user_version = {len(migrations)}")


class SessionRecord(BaseModel):
    """One stored conversation: where it came from, its interview state and what it cost."""

    id: str
    channel: str
    key: Optional[str] = None
    created_at: datetime
    updated_at: datetime
    title: str = ""
    decision: Optional[str] = None
    usage: dict
    state: InterviewState

    def to_json(self) -> dict:
        return self.model_dump(mode="json")

    def to_markdown(self, advice: str = "") -> str:
        """A readable transcript: title, decision, each question and answer, usage; then `advice`
        (the recommendation rendered as markdown by the caller), its headings one level down."""
        u = {**EMPTY_USAGE, **self.usage}
        lines = [f"# {self.title or '(untitled session)'}", "",
                 f"- Session: `{self.id}` ({self.channel}{', ' + self.key if self.key else ''})",
                 f"- Started {self.created_at:%Y-%m-%d %H:%M}, updated {self.updated_at:%Y-%m-%d %H:%M} (UTC)",
                 f"- Decision: **{self.decision or 'not yet'}**", ""]
        if self.state.description:
            lines += ["## Description", "", self.state.description, ""]
        asked = [e for e in self.state.history if e.question]
        lines += ["## Transcript", ""] if asked else []
        for e in asked:
            if e.dimension is None:  # a command that changed answers: back, change
                lines += [f"_(said: {e.answer})_", ""]
                continue
            answer = f"**A:** {e.answer}" if e.answer is not None else "_(no answer yet)_"
            taken_back = " _(taken back)_" if e.withdrawn else ""
            lines += [f"**Q:** {e.question}", "", answer + taken_back, ""]
        lines += ["## Usage", "", f"{u['calls']} model call(s), {u['prompt_tokens']} prompt + "
                  f"{u['completion_tokens']} completion tokens, about ${u['est_cost_usd']:.4f}"]
        if advice.strip():
            lines += ["", re.sub(r"(?m)^(#+) ", r"#\1 ", advice.strip())]
        return "\n".join(lines) + "\n"


_clock = threading.Lock()
_last = datetime.min.replace(tzinfo=timezone.utc)


def _now() -> str:
    """Fixed-width ISO UTC (so text order is time order), strictly increasing in this process."""
    global _last
    with _clock:  # a save right after a create must still win `latest` on a coarse clock
        _last = max(datetime.now(timezone.utc), _last + timedelta(microseconds=1))
        return _last.isoformat(timespec="microseconds")


def _title(description: str) -> str:
    text = " ".join(description.split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


def _row_values(state: InterviewState) -> tuple:
    """The state as stored: JSON text, decision and title."""
    decision = state.recommendation.decision if state.recommendation else None
    text = json.dumps(state.model_dump(mode="json"), ensure_ascii=False)
    return text, decision, _title(state.description)


def _insert(conn: sqlite3.Connection, state: InterviewState, channel: str, key: Optional[str], now: str,
            session_id: Optional[str] = None) -> str:
    if key is not None:
        row = conn.execute("SELECT id FROM sessions WHERE channel=? AND key=?", (channel, key)).fetchone()
        if row:
            raise UserError(f"a {channel} session with key {key!r} already exists ({row['id']})")
    session_id = session_id or secrets.token_hex(4)
    while conn.execute("SELECT 1 FROM sessions WHERE id=?", (session_id,)).fetchone():
        session_id = secrets.token_hex(4)
    conn.execute("INSERT INTO sessions (id, channel, key, created_at, updated_at, state, decision,"
                 " title, usage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (session_id, channel, key, now, now, *_row_values(state), json.dumps(EMPTY_USAGE)))
    return session_id


def _update(conn: sqlite3.Connection, session_id: str, state: InterviewState) -> None:
    # Keep the first title; a chat started without a description gets one later.
    cur = conn.execute("UPDATE sessions SET updated_at=?, state=?, decision=?,"
                       " title=CASE WHEN title='' THEN ? ELSE title END WHERE id=?",
                       (_now(), *_row_values(state), session_id))
    if cur.rowcount == 0:
        raise _missing(session_id)


def _missing(session_id: str) -> UserError:
    return UserError(f"no session {session_id!r}: see 'advisor sessions list'")


@dataclass
class InboxItem:
    """One stored Slack request: what it was, how far its work got."""

    id: str
    kind: str
    body: dict
    status: str  # pending (not worked yet), answered (turn saved, replies in outbox), done, failed
    attempts: int = 0
    outbox: list = field(default_factory=list)
    sent: int = 0  # outbox messages already delivered


class SessionStore:
    """Sessions in one SQLite file; safe to share between threads (one connection, one lock).

    `read_only=True` (list, show, export) opens the file without writing to it: no folder is
    created, no migration runs, and a missing file reads as an empty store.
    """

    def __init__(self, path: Path, busy_timeout_ms: int = 5000, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.Lock()
        with self._errors():
            if read_only:
                self._conn = self._open_read_only(busy_timeout_ms)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # timeout= is sqlite's busy_timeout; isolation_level=None so we issue every BEGIN.
                self._conn = sqlite3.connect(self.path, timeout=busy_timeout_ms / 1000,
                                             isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        try:
            with self._errors():
                if read_only:
                    self._check_readable()
                else:
                    # WAL lets the Slack bot read while a chat writes; FULL syncs every commit so a
                    # save that returned survives power loss too, not only a killed process.
                    self._conn.execute("PRAGMA journal_mode=WAL")
                    self._conn.execute("PRAGMA synchronous=FULL")
                    migrate(self._conn)
        except BaseException:
            self._conn.close()
            raise

    def _open_read_only(self, busy_timeout_ms: int) -> sqlite3.Connection:
        existing = next(p for p in self.path.parents if p.exists())  # "/" at worst
        if not existing.is_dir():  # ADVISOR_HOME under a file: a mistake to report, not an empty store
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(existing))
        if not self.path.exists():
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            migrate(conn)  # an empty store in memory: lists nothing, finds nothing
            return conn
        uri = self.path.resolve().as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=busy_timeout_ms / 1000,
                               isolation_level=None, check_same_thread=False)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            # A WAL database in a read-only folder cannot make its -shm file: read it as an
            # immutable snapshot instead (nobody can be writing to a folder nobody can write).
            conn.close()
            conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)
        return conn

    def _check_readable(self) -> None:
        """A read-only store needs every migration we rely on; newer ones are fine to read past."""
        if not self._conn.execute("SELECT 1 FROM sqlite_master WHERE name='sessions'").fetchone():
            # A store another process is creating right now (its first migration not committed
            # yet), or an empty file: nothing to read yet, not a damaged database.
            self._conn.close()
            self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            migrate(self._conn)
            return
        missing = {name for name, _ in MIGRATIONS} - _applied(self._conn)
        if missing and _applied(self._conn):
            log.info("session database %s predates %s; reading it as it is", self.path, ", ".join(sorted(missing)))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "SessionStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn sqlite's errors about the file into one line the user can act on."""
        where = f"session database {self.path}"
        try:
            yield
        except NewerDatabaseError:
            raise NewerDatabaseError(
                f"{where} was written by a newer advisor (schema {', '.join(newer_migrations(self._conn))}); "
                "upgrade advisor to change it, or set ADVISOR_HOME to use another folder "
                "('advisor sessions list' can still read it)") from None
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
            raise  # our bugs, not the user's file
        except sqlite3.DatabaseError as e:
            name = getattr(e, "sqlite_errorname", "")
            if name.startswith("SQLITE_BUSY") or "locked" in str(e):
                raise UserError(f"{where} is locked by another advisor process; try again") from e
            if name.startswith("SQLITE_FULL") or "disk is full" in str(e):
                raise UserError(f"{where}: the disk is full; free some space and try again "
                                "(sessions saved before stay intact)") from e
            if name.startswith("SQLITE_READONLY") or "readonly" in str(e):
                raise UserError(f"{where} is read-only here; set ADVISOR_HOME to a writable folder") from e
            if name.startswith("SQLITE_CANTOPEN") or "unable to open" in str(e):
                raise UserError(f"cannot open {where} ({e}); set ADVISOR_HOME to a writable folder") from e
            raise UserError(f"{where} is unreadable ({e}); "
                            "move it aside or set ADVISOR_HOME to use another folder") from e
        except OSError as e:  # e.g. ADVISOR_HOME points at a file or a read-only folder
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise UserError(f"cannot create folder {self.path.parent}: the disk is full") from e
            raise UserError(f"cannot create folder {self.path.parent} ({e.strerror}); "
                            "set ADVISOR_HOME to a writable folder") from e

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            yield self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise UserError(f"session database {self.path} was opened read-only")
        with self._lock, self._errors(), _transaction(self._conn) as conn:
            yield conn

    def _record(self, row: sqlite3.Row) -> SessionRecord:
        try:
            return SessionRecord(**{**dict(row), "usage": json.loads(row["usage"]),
                                    "state": InterviewState.model_validate_json(row["state"])})
        except ValidationError as e:
            first = e.errors()[0] if e.errors() else {}
            if first.get("type") == "json_invalid":
                raise UserError(f"session {row['id']!r} in {self.path} is damaged (not JSON); "
                                f"delete it with 'advisor sessions delete {row['id']}'") from e
            # Well-formed JSON this advisor cannot read: values or fields a newer advisor wrote.
            where = ".".join(str(p) for p in first.get("loc", ())) or "state"
            raise UserError(f"session {row['id']!r} holds values this advisor does not know ({where}: "
                            f"{first.get('msg', 'invalid')}): it was probably written by a newer advisor; "
                            "upgrade advisor to open it") from e
        except ValueError as e:  # not JSON at all: damaged
            reason = str(e).splitlines()[0]
            raise UserError(f"session {row['id']!r} in {self.path} is damaged ({reason}); "
                            f"delete it with 'advisor sessions delete {row['id']}'") from e

    def _one(self, where: str, params: tuple) -> Optional[SessionRecord]:
        with self._read() as conn:
            row = conn.execute(f"SELECT * FROM sessions WHERE {where} LIMIT 1", params).fetchone()
        return self._record(row) if row else None

    def create(self, state: InterviewState, channel: str = "cli", key: Optional[str] = None) -> str:
        """Store a new session and return its short id."""
        now = _now()
        with self._write() as conn:
            return _insert(conn, state, channel, key, now)

    def save(self, session_id: str, state: InterviewState) -> None:
        """Replace the session's state (and decision) in one committed transaction."""
        with self._write() as conn:
            _update(conn, session_id, state)

    def new_id(self) -> str:
        """A fresh session id (for a session created later in `commit_turn`)."""
        with self._read() as conn:
            while True:
                session_id = secrets.token_hex(4)
                if not conn.execute("SELECT 1 FROM sessions WHERE id=?", (session_id,)).fetchone():
                    return session_id

    def add_usage(self, session_id: str, calls: int = 0, prompt_tokens: int = 0,
                  completion_tokens: int = 0, est_cost_usd: float = 0.0) -> None:
        """Add model calls' usage to the session's running totals."""
        with self._write() as conn:
            row = conn.execute("SELECT usage FROM sessions WHERE id=?", (session_id,)).fetchone()
            if row is None:
                raise _missing(session_id)
            try:
                usage = {**EMPTY_USAGE, **json.loads(row["usage"])}
            except ValueError:
                usage = dict(EMPTY_USAGE)  # only a cost counter: restart it rather than block the chat
            added = zip(EMPTY_USAGE, (calls, prompt_tokens, completion_tokens, est_cost_usd))
            usage.update({k: usage[k] + v for k, v in added})
            usage["est_cost_usd"] = round(usage["est_cost_usd"], 8)  # no 0.30000000000000004 in reports
            conn.execute("UPDATE sessions SET usage=? WHERE id=?", (json.dumps(usage), session_id))

    def get(self, session_id: str) -> SessionRecord:
        record = self._one("id=?", (session_id,))
        if record is None:
            raise _missing(session_id)
        return record

    def find(self, channel: str, key: str) -> Optional[SessionRecord]:
        """The session for a channel's key (e.g. a Slack thread), or None."""
        return self._one("channel=? AND key=?", (channel, key))

    def latest(self, channel: str = "cli") -> Optional[SessionRecord]:
        """The channel's most recently updated session (for `chat --resume` without an id)."""
        return self._one("channel=? ORDER BY updated_at DESC, rowid DESC", (channel,))

    def list(self, limit: int = 50, query: Optional[str] = None) -> list[SessionRecord]:
        """Newest first; with `query`, only sessions whose title or stored text (description,
        answers, advice) holds every word of it (case-insensitive for ASCII letters). A damaged
        row is logged and left out so the others still show."""
        where, params = [], []
        for word in (query or "").split():
            pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(title LIKE ? ESCAPE '\\' OR state LIKE ? ESCAPE '\\')")
            params += [pattern, pattern]
        sql = "SELECT * FROM sessions" + (" WHERE " + " AND ".join(where) if where else "")
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY updated_at DESC, rowid DESC LIMIT ?", (*params, limit)).fetchall()
        records = []
        for row in rows:
            try:
                records.append(self._record(row))
            except UserError as e:
                log.warning("%s", e)
        return records

    def delete(self, session_id: str) -> None:
        with self._write() as conn:
            if conn.execute("DELETE FROM sessions WHERE id=?", (session_id,)).rowcount == 0:
                raise _missing(session_id)

    def mark_event_seen(self, event_id: str) -> bool:
        """True the first time an event id is seen, False for a retry (atomic across processes)."""
        now = datetime.now(timezone.utc)
        with self._write() as conn:
            cur = conn.execute("INSERT OR IGNORE INTO seen_events (event_id, seen_at) VALUES (?, ?)",
                               (event_id, now.isoformat(timespec="microseconds")))
            conn.execute("DELETE FROM seen_events WHERE seen_at < ?",
                         ((now - SEEN_EVENTS_KEEP).isoformat(timespec="microseconds"),))
            return cur.rowcount == 1

    # ------------------------------------------------------------------ the Slack inbox
    def inbox_add(self, item_id: str, kind: str, body: dict) -> bool:
        """Store a request before it is acknowledged; False when it is already here (a retry)."""
        with self._write() as conn:
            cur = conn.execute("INSERT OR IGNORE INTO inbox (id, kind, body, received_at) VALUES (?, ?, ?, ?)",
                               (item_id, kind, json.dumps(body, ensure_ascii=False), _now()))
            return cur.rowcount == 1

    def inbox_get(self, item_id: str) -> Optional[InboxItem]:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM inbox WHERE id=?", (item_id,)).fetchone()
        return _inbox_item(row) if row else None

    def inbox_unfinished(self) -> list[InboxItem]:
        """Requests whose work is not done (pending or answered), oldest first."""
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM inbox WHERE status IN ('pending', 'answered')"
                                " ORDER BY received_at").fetchall()
        return [_inbox_item(r) for r in rows]

    def inbox_attempt(self, item_id: str) -> int:
        """Count one more attempt at an item's work; returns the new count."""
        with self._write() as conn:
            conn.execute("UPDATE inbox SET attempts=attempts+1 WHERE id=?", (item_id,))
            row = conn.execute("SELECT attempts FROM inbox WHERE id=?", (item_id,)).fetchone()
            return row["attempts"] if row else 0

    def commit_turn(self, item_id: str, outbox: list, *, create: Optional[tuple] = None,
                    save: Optional[tuple[str, InterviewState]] = None) -> None:
        """In one transaction: the turn's session change and its replies, the item marked answered.

        `create` is (session_id, state, channel, key); `save` is (session_id, state). A crash
        after this commits posts the stored replies on restart and never runs the turn again.
        """
        with self._write() as conn:
            if create is not None:
                session_id, state, channel, key = create
                _insert(conn, state, channel, key, _now(), session_id)
            if save is not None:
                _update(conn, *save)
            conn.execute("UPDATE inbox SET status='answered', outbox=?, sent=0 WHERE id=?",
                         (json.dumps(outbox, ensure_ascii=False), item_id))

    def inbox_sent(self, item_id: str, sent: int) -> None:
        """Record that the first `sent` outbox messages were delivered."""
        with self._write() as conn:
            conn.execute("UPDATE inbox SET sent=? WHERE id=?", (sent, item_id))

    def inbox_finish(self, item_id: str, status: str = "done") -> None:
        """Mark an item done (or failed); its body and replies are dropped (they may hold a response_url)."""
        now = datetime.now(timezone.utc)
        with self._write() as conn:
            conn.execute("UPDATE inbox SET status=?, done_at=?, body='{}', outbox=NULL WHERE id=?",
                         (status, now.isoformat(timespec="microseconds"), item_id))
            conn.execute("DELETE FROM inbox WHERE status IN ('done', 'failed') AND done_at < ?",
                         ((now - INBOX_KEEP).isoformat(timespec="microseconds"),))


def _inbox_item(row: sqlite3.Row) -> InboxItem:
    return InboxItem(id=row["id"], kind=row["kind"], body=json.loads(row["body"]), status=row["status"],
                     attempts=row["attempts"], outbox=json.loads(row["outbox"]) if row["outbox"] else [],
                     sent=row["sent"])
