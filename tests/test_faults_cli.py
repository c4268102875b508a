"""Fault suite, sessions and the CLI: a newer-schema database, read-only reads, a full disk,
binary and empty chat input, an unusable home, conflicting flags. One line each, no traceback.
Rerun: .venv/bin/python -m pytest -q -m faults
"""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from test_cli import advisor_cli, assert_one_line_error

from agent.errors import UserError
from agent.store.sessions import NewerDatabaseError, SessionStore
from agent.types import InterviewState

pytestmark = pytest.mark.faults

WIKI = "We need a support bot over our internal wiki, which changes every week."


def _home() -> Path:
    return Path(os.environ["ADVISOR_HOME"])


def _make_newer(db: Path) -> None:
    """What a newer advisor leaves behind: a migration (and a rule) this one does not know."""
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO _migrations (name, applied_at) VALUES ('m900_tenants', '2027-01-01')")
        conn.execute("ALTER TABLE sessions ADD COLUMN tenant TEXT")
        conn.execute("CREATE TRIGGER need_tenant BEFORE INSERT ON sessions WHEN NEW.tenant IS NULL "
                     "BEGIN SELECT RAISE(ABORT, 'NOT NULL constraint failed: sessions.tenant'); END")
        conn.execute("PRAGMA user_version = 900")


def _dump(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_a_database_from_a_newer_advisor_is_refused_for_writing_and_still_listed():
    db = _home() / "sessions.db"
    with SessionStore(db) as store:
        sid = store.create(InterviewState(description=WIKI))
    _make_newer(db)
    before = _dump(db)

    with pytest.raises(NewerDatabaseError, match="written by a newer advisor"):
        SessionStore(db)
    chat = advisor_cli("chat", stdin=WIKI + "\n")
    line = assert_one_line_error(chat)
    assert "written by a newer advisor" in line and "m900_tenants" in line
    listed = advisor_cli("sessions", "list", "--json")
    assert listed.returncode == 0 and sid in listed.out, listed.err
    assert _dump(db) == before  # nothing written


def test_slack_refuses_a_newer_database_in_one_line(tmp_path):
    db = _home() / "sessions.db"
    SessionStore(db).close()
    _make_newer(db)
    with pytest.raises(UserError, match="newer advisor"):
        SessionStore(db)


def test_read_only_commands_create_nothing_and_change_nothing():
    home = _home()
    db = home / "sessions.db"
    assert not db.exists()
    assert advisor_cli("sessions", "list").returncode == 0
    assert not db.exists()  # listing an empty home makes no database
    with SessionStore(db) as store:
        sid = store.create(InterviewState(description=WIKI))
    for name in ("sessions.db-wal", "sessions.db-shm"):
        (home / name).unlink(missing_ok=True)
    stamp = db.stat().st_mtime_ns
    for args in (("sessions", "list"), ("sessions", "show", sid), ("sessions", "export", sid, "--format", "json")):
        proc = advisor_cli(*args)
        assert proc.returncode == 0, proc.err
    assert db.stat().st_mtime_ns == stamp


def test_a_full_disk_is_reported_as_a_full_disk(tmp_path):
    with SessionStore(tmp_path / "sessions.db") as store:
        sid = store.create(InterviewState(description=WIKI))
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL
        with pytest.raises(UserError, match="the disk is full") as exc:
            store.save(sid, InterviewState(description=WIKI * 2000))
        assert "\n" not in str(exc.value)
        assert store.get(sid).state.description == WIKI  # the saved session is intact


@pytest.mark.parametrize("stdin, expect_error", [
    (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 40, "binary"),
    ("caf\u00e9 bot over our menu\n".encode("latin-1"), "not UTF-8"),
    (b"", None),  # an immediate Ctrl-D
    (b"\n  \n", None),
])
def test_chat_with_nothing_readable_saves_no_session_and_says_so_in_one_line(stdin, expect_error):
    proc = advisor_cli("chat", stdin=stdin)
    if expect_error:
        line = assert_one_line_error_ignoring_stdout(proc)
        assert expect_error in line
    else:
        assert proc.returncode == 0 and proc.err.strip() == "No answer given: nothing to advise on, no session saved."
    listed = advisor_cli("sessions", "list", "--json")
    assert '"sessions": []' in listed.out


def assert_one_line_error_ignoring_stdout(proc) -> str:
    """The greeting is on stdout before the input is read; stderr must be one error line."""
    assert proc.returncode != 0 and "Traceback" not in proc.err
    lines = proc.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.err
    return lines[0]


def test_index_rebuild_in_an_unusable_home_fails_fast(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ADVISOR_HOME", str(blocker / "home"))
    started = time.monotonic()
    line = assert_one_line_error(advisor_cli("index", "--rebuild"))
    assert "ADVISOR_HOME" in line and "None" not in line
    assert time.monotonic() - started < 30  # no minute-long build first


@pytest.mark.parametrize("args, expect", [
    (("index", "--embeddings", "openai"), "OPENAI_API_KEY"),
    (("search", "citations", "--embeddings", "openai"), "OPENAI_API_KEY"),
    (("recommend", "--json", "--markdown", WIKI), "choose one"),
    (("recommend", "--full", "--json", WIKI), "choose one"),
    (("recommend", "--about-self", "some text"), "--about-self"),
])
def test_conflicting_or_incomplete_options_are_refused_in_one_line(args, expect):
    line = assert_one_line_error(advisor_cli(*args))
    assert expect in line
