"""The SQLite session store: round trips, migrations, damaged and locked files, durability."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent.errors import UserError
from agent.store.sessions import MIGRATIONS, SessionRecord, SessionStore, migrate
from agent.types import Exchange, InterviewState, Profile, Recommendation

ROOT = Path(__file__).resolve().parents[1]
LONG = "We need a support bot that answers questions over our internal wiki, which changes every week."


def _state(description: str = LONG, answer: str | None = "yes, weekly",
           decision: str | None = None) -> InterviewState:
    rec = None
    if decision:
        rec = Recommendation(decision=decision, confidence=0.8, profile=Profile(), rationale=[], citations=[])
    return InterviewState(
        description=description,
        history=[Exchange(dimension="data_dynamics", question="Does your data change often?", answer=answer)],
        recommendation=rec,
        done=decision is not None,
    )


@pytest.fixture
def store(tmp_path: Path):
    with SessionStore(tmp_path / "home" / "sessions.db") as s:
        yield s


def test_create_save_get_round_trip(store: SessionStore):
    first = _state(answer=None)
    sid = store.create(first)
    rec = store.get(sid)
    assert len(sid) == 8 and int(sid, 16) >= 0
    assert rec.state == first and rec.channel == "cli" and rec.key is None and rec.decision is None
    assert len(rec.title) <= 60 and rec.title.startswith("We need a support bot")
    assert rec.usage == {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "est_cost_usd": 0.0}

    final = _state(decision="rag")
    store.save(sid, final)
    rec = store.get(sid)
    assert rec.state == final and rec.decision == "rag"
    assert rec.updated_at > rec.created_at
    assert SessionRecord.model_validate(rec.to_json()) == rec
    md = rec.to_markdown()
    assert "Does your data change often?" in md and "yes, weekly" in md and "rag" in md
    with pytest.raises(UserError, match=r"no session 'nope': see 'advisor sessions list'"):
        store.get("nope")
    with pytest.raises(UserError, match="no session"):
        store.save("nope", final)


def test_title_filled_by_first_save_with_a_description(store: SessionStore):
    sid = store.create(InterviewState())
    assert store.get(sid).title == ""
    store.save(sid, _state(description="A  legal\nassistant"))
    store.save(sid, _state(description="something else"))
    assert store.get(sid).title == "A legal assistant"


def test_latest_resumes_most_recently_updated_per_channel(store: SessionStore):
    a = store.create(_state())
    b = store.create(_state())
    c = store.create(_state(), channel="slack", key="T1:C1:1.0")
    assert store.latest().id == b
    store.save(a, _state(decision="hybrid"))
    assert store.latest("cli").id == a
    assert store.latest("slack").id == c
    assert store.latest("batch") is None
    assert [r.id for r in store.list()] == [a, c, b]
    assert [r.id for r in store.list(limit=1)] == [a]


def test_find_by_key(store: SessionStore):
    sid = store.create(_state(), channel="slack", key="T123:C456:1700000000.0001")
    assert store.find("slack", "T123:C456:1700000000.0001").id == sid
    assert store.find("slack", "T123:C456:1700000000.0002") is None
    assert store.find("cli", "T123:C456:1700000000.0001") is None


def test_key_unique_per_channel(store: SessionStore):
    first = store.create(_state(), channel="slack", key="T1:C1:1.0")
    with pytest.raises(UserError, match=first):
        store.create(_state(), channel="slack", key="T1:C1:1.0")
    store.create(_state(), channel="teams", key="T1:C1:1.0")  # same key, other channel: fine
    store.create(_state(), channel="slack")  # no key: never clashes
    store.create(_state(), channel="slack")
    assert len(store.list()) == 4


def test_usage_accumulates(store: SessionStore):
    sid = store.create(_state())
    store.add_usage(sid, calls=1, prompt_tokens=100, completion_tokens=20, est_cost_usd=0.0001)
    store.add_usage(sid, calls=2, prompt_tokens=50, completion_tokens=5, est_cost_usd=0.0002)
    store.save(sid, _state(decision="rag"))  # a save must not reset usage
    usage = store.get(sid).usage
    assert usage == {"calls": 3, "prompt_tokens": 150, "completion_tokens": 25, "est_cost_usd": 0.0003}
    with pytest.raises(UserError, match="no session"):
        store.add_usage("nope", calls=1)


def test_delete(store: SessionStore):
    sid = store.create(_state())
    store.delete(sid)
    with pytest.raises(UserError, match="no session"):
        store.get(sid)
    with pytest.raises(UserError, match="no session"):
        store.delete(sid)


def _applied(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def test_migrations_idempotent_on_reopen(tmp_path: Path):
    path = tmp_path / "sessions.db"
    with SessionStore(path) as s:
        sid = s.create(_state())
    for _ in range(2):
        with SessionStore(path) as s:
            assert s.get(sid).state == _state()
    assert _applied(path) == [name for name, _ in MIGRATIONS]


def test_old_database_gets_new_migrations(tmp_path: Path):
    path = tmp_path / "sessions.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:1])
    conn.execute(
        "INSERT INTO sessions (id, channel, key, created_at, updated_at, title, state, decision, usage)"
        " VALUES ('0ld0ld00', 'cli', NULL, '2024-01-01T00:00:00.000000+00:00',"
        " '2024-01-01T00:00:00.000000+00:00', 'old', ?, NULL, '{\"calls\": 1}')",
        (_state().model_dump_json(),),
    )
    conn.close()
    assert _applied(path) == [MIGRATIONS[0][0]]
    with SessionStore(path) as s:
        assert _applied(path) == [name for name, _ in MIGRATIONS]
        assert s.mark_event_seen("Ev1")  # seen_events came with a later migration
        old = s.get("0ld0ld00")
        assert old.title == "old" and old.usage["calls"] == 1 and old.state == _state()


def test_corrupt_file_is_a_user_error_and_left_alone(tmp_path: Path):
    path = tmp_path / "sessions.db"
    junk = b"this is not a sqlite database\n" * 100
    path.write_bytes(junk)
    with pytest.raises(UserError) as info:
        SessionStore(path)
    message = str(info.value)
    assert str(path) in message and "move it aside or set ADVISOR_HOME" in message and "\n" not in message
    assert path.read_bytes() == junk


def test_home_that_is_a_file_is_a_user_error(tmp_path: Path):
    (tmp_path / "home").write_text("oops")
    with pytest.raises(UserError, match="set ADVISOR_HOME to a writable folder"):
        SessionStore(tmp_path / "home" / "sessions.db")


def test_damaged_row_named_by_get_and_skipped_by_list(tmp_path: Path):
    path = tmp_path / "sessions.db"
    with SessionStore(path) as s:
        good, garbage, invalid = (s.create(_state()) for _ in range(3))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE sessions SET state='{not json' WHERE id=?", (garbage,))
        conn.execute("UPDATE sessions SET state='{\"lang\": \"fr\"}' WHERE id=?", (invalid,))
    with SessionStore(path) as s:
        with pytest.raises(UserError, match=f"session '{garbage}' in .*damaged.*delete") as info:
            s.get(garbage)
        assert "\n" not in str(info.value)
        # Well-formed JSON with a value this advisor does not know: a newer advisor's, not damage.
        with pytest.raises(UserError, match=f"session '{invalid}' holds values .*newer advisor") as info:
            s.get(invalid)
        assert "\n" not in str(info.value) and "delete" not in str(info.value)
        assert [r.id for r in s.list()] == [good]


def test_locked_database_is_a_user_error(tmp_path: Path):
    path = tmp_path / "sessions.db"
    store = SessionStore(path, busy_timeout_ms=50)
    sid = store.create(_state())
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(UserError, match=r"session database .* is locked by another advisor process; try again"):
            store.save(sid, _state(decision="rag"))
        assert time.monotonic() - started < 3  # the short busy timeout was honoured
        with pytest.raises(UserError, match="locked"):
            store.mark_event_seen("Ev1")
        assert store.get(sid).decision is None  # WAL: reading still works while another writes
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.save(sid, _state(decision="rag"))
    assert store.get(sid).decision == "rag"
    store.close()


def test_locked_on_open_is_a_user_error(tmp_path: Path):
    path = tmp_path / "sessions.db"
    other = sqlite3.connect(path, isolation_level=None)  # rollback journal: EXCLUSIVE blocks readers too
    other.execute("CREATE TABLE unrelated (x)")
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(UserError, match="is locked by another advisor process"):
            SessionStore(path, busy_timeout_ms=50)
    finally:
        other.execute("ROLLBACK")
        other.close()


CHILD = """
import sys
from pathlib import Path
from agent.store.sessions import SessionStore
from agent.types import Exchange, InterviewState
store = SessionStore(Path(sys.argv[1]))
sid = store.create(InterviewState(description="killed mid-chat"))
store.save(sid, InterviewState(description="killed mid-chat", history=[Exchange(question="Q?", answer="A!")]))
print(sid, flush=True)
sys.stdin.read()  # wait here, connection open, until the test kills us
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_saved_session_survives_sigkill(tmp_path: Path):
    path = tmp_path / "sessions.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        sid = child.stdout.readline().strip()
        assert sid, child.stderr.read()
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
    with SessionStore(path) as s:
        assert s.get(sid).state.history == [Exchange(question="Q?", answer="A!")]


def test_mark_event_seen_once(tmp_path: Path):
    path = tmp_path / "sessions.db"
    with SessionStore(path) as a, SessionStore(path) as b:
        assert a.mark_event_seen("Ev1") is True
        assert a.mark_event_seen("Ev1") is False
        assert b.mark_event_seen("Ev1") is False  # a retry reaching another worker is still a retry
        assert b.mark_event_seen("Ev2") is True


@pytest.mark.parametrize("shared", [True, False], ids=["one-store", "store-per-thread"])
def test_concurrent_saves_from_threads_all_land(tmp_path: Path, shared: bool):
    path = tmp_path / "sessions.db"
    main = SessionStore(path)
    counter = main.create(_state())
    ids = [main.create(_state()) for _ in range(8)]
    errors: list[BaseException] = []
    rounds = 15

    def work(n: int) -> None:
        s = main if shared else SessionStore(path)
        try:
            for i in range(rounds):
                s.save(ids[n], _state(answer=f"thread {n} round {i}"))
                s.add_usage(counter, calls=1, prompt_tokens=10)
        except BaseException as e:  # surfaced below: a thread's exception is otherwise lost
            errors.append(e)
        finally:
            if not shared:
                s.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for n, sid in enumerate(ids):
        assert main.get(sid).state.history[0].answer == f"thread {n} round {rounds - 1}"
    assert main.get(counter).usage["calls"] == 8 * rounds
    assert main.get(counter).usage["prompt_tokens"] == 80 * rounds
    main.close()


def test_migration_names_unique():
    # A repeated name would be skipped as "already applied" on every database.
    names = [name for name, _ in MIGRATIONS]
    assert len(names) == len(set(names))


# ----------------------------------------------------------------------------- history: search, old states

def test_list_finds_sessions_by_every_word_newest_first_and_limits(store: SessionStore):
    a = store.create(_state("A support bot over our internal wiki."), channel="recommend")
    b = store.create(_state("Summaries of legal contracts in our house style."))
    c = store.create(_state("我们要做一个客服机器人，回答要基于产品手册。"), channel="slack")
    d = store.create(_state("100% of answers must cite a_source."))
    assert [r.id for r in store.list()] == [d, c, b, a]
    assert [r.id for r in store.list(2)] == [d, c]
    assert [r.id for r in store.list(query="WIKI support")] == [a], "every word, any case"
    assert [r.id for r in store.list(query="wiki legal")] == []
    assert [r.id for r in store.list(query="产品手册")] == [c]
    assert [r.id for r in store.list(query="yes, weekly")] == [d, c, b, a], "answers are searched too"
    assert [r.id for r in store.list(query="100%")] == [d] and [r.id for r in store.list(query="a_s")] == [d]
    assert [r.id for r in store.list(query="%")] == [d], "% is a character, not a wildcard"
    assert store.list(query="x_y") == [], "_ is a character, not a wildcard"


def test_a_state_saved_before_snapshots_existed_still_opens_and_can_go_back(tmp_path: Path):
    """An interview saved by the previous advisor (no Exchange.before / withdrawn) resumes; `back`
    falls back to clearing the asked fact."""
    from agent.api import Advisor
    from agent.settings import Settings

    path = tmp_path / "sessions.db"
    old = {"lang": "en", "description": "We are building an assistant for our sales team.",
           "profile": {"external_knowledge": {"value": "yes", "evidence": "yes", "source": "stated"}},
           "history": [{"dimension": "external_knowledge", "question": "Knowledge?", "answer": "yes"},
                       {"dimension": "model_adaptation", "question": "Style?", "answer": None}],
           "pending": "model_adaptation", "skipped": [], "done": False, "recommendation": None,
           "on_topic": True, "certainty": {"external_knowledge": 0.97}, "contradictions": []}
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS)
    conn.execute("INSERT INTO sessions (id, channel, key, created_at, updated_at, title, state, decision, usage)"
                 " VALUES ('0ld0ld01', 'cli', NULL, '2024-01-01T00:00:00.000000+00:00',"
                 " '2024-01-01T00:00:00.000000+00:00', 'old', ?, NULL, '{}')", (json.dumps(old),))
    conn.close()
    with SessionStore(path) as s:
        state = s.get("0ld0ld01").state
    adv = Advisor(Settings.from_env(), engine="offline")
    turn = adv.reply(state, "back")
    assert turn.question.dimension == "external_knowledge"
    assert state.profile.external_knowledge.value == "unknown" and "external_knowledge" not in state.certainty


def test_a_store_being_created_reads_as_empty_not_damaged(tmp_path: Path):
    """`sessions list` polled while a chat creates the store (file there, tables not yet
    committed) lists nothing instead of calling the file unreadable."""
    path = tmp_path / "sessions.db"
    sqlite3.connect(path).close()  # the file exists, no table in it yet
    with SessionStore(path, read_only=True) as s:
        assert s.list() == [] and s.find("cli", "x") is None
    with SessionStore(path) as s:  # and the writer then migrates it as usual
        sid = s.create(_state())
    with SessionStore(path, read_only=True) as s:
        assert [r.id for r in s.list()] == [sid]
