"""The `advisor` command as a user runs it: a real subprocess with the test's ADVISOR_HOME."""
from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.article.source import QuoteChecker, load_article
from agent.wording import wording

ROOT = Path(__file__).resolve().parents[1]
CMD = [sys.executable, "-m", "agent.fronts.cli.main"]
SALES = "We are building an assistant for our sales team."


def advisor_cli(*args: str, stdin: bytes | str = b"", timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `advisor ARGS` with stdin (never a terminal); environment from the test (ADVISOR_HOME)."""
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    proc = subprocess.run([*CMD, *args], input=data, capture_output=True, cwd=ROOT, timeout=timeout)
    proc.out = proc.stdout.decode("utf-8")  # type: ignore[attr-defined]
    proc.err = proc.stderr.decode("utf-8")  # type: ignore[attr-defined]
    return proc


def squash(text: str) -> str:
    """Rich wraps lines (inside Chinese text too): compare without white space."""
    return "".join(text.split())


def assert_one_line_error(proc) -> str:
    assert proc.returncode != 0, proc.out
    assert "Traceback" not in proc.err
    lines = proc.err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), proc.err
    assert proc.out == "", "errors go to stderr only"
    return lines[0]


def one_json_object(proc) -> dict:
    assert proc.returncode == 0, proc.err
    lines = proc.out.splitlines()
    assert len(lines) == 1, proc.out[:500]
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return data


# ----------------------------------------------------------------------------- bad input

MEGABYTE = b"a" * (1 << 20)


@pytest.mark.parametrize("args, stdin, expect", [
    (("recommend", ""), b"", "empty"),
    (("recommend", "   \n\t "), b"", "empty"),
    (("search", ""), b"", "empty"),
    (("search", "   "), b"", "empty"),
    (("recommend", "-"), b"", "empty"),
    (("recommend", "-"), b"  \n \n", "empty"),
    (("recommend", "-"), MEGABYTE, "over 1,000,000 bytes"),
    (("search", "-"), MEGABYTE, "over 1,000,000 bytes"),
    (("recommend", "-"), b"\x00\x01\x02\x89PNG\r\n\x1a\n\x00\x00", "binary"),
    (("search", "-"), b"\x7fELF\x02\x01\x01\x00\x00\x00", "binary"),
    (("recommend", "-"), "We need a bot over our wiki, café".encode("latin-1"), "not valid UTF-8"),
    (("search", "-"), b"\xff\xfe\xfdrag", "not valid UTF-8"),
    (("recommend", "--no-such-flag", "text"), b"", "No such option"),
    (("search", "--bogus", "q"), b"", "No such option"),
    (("--frobnicate",), b"", "No such option"),
    (("sessions", "show", "NOSUCH"), b"", "no session 'NOSUCH'"),
    (("sessions", "export", "NOSUCH", "--format", "json"), b"", "no session 'NOSUCH'"),
    (("chat", "--resume", "NOSUCH"), b"", "no session 'NOSUCH'"),
    (("recommend",), b"", "give a description"),
    (("search", "hello", "-k", "0"), b"", "--k"),
    (("recommend", "x", "--engine", "quantum"), b"", "unknown engine"),
])
def test_bad_input_is_one_line_on_stderr(args, stdin, expect):
    line = assert_one_line_error(advisor_cli(*args, stdin=stdin))
    assert line.startswith("error: ") and expect in line


def test_an_unwritable_home_is_one_line(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ADVISOR_HOME", str(blocker))
    line = assert_one_line_error(advisor_cli("sessions", "list"))
    assert "ADVISOR_HOME" in line


def test_debug_flag_re_raises_with_a_traceback(monkeypatch):
    monkeypatch.setenv("ADVISOR_DEBUG", "1")
    proc = advisor_cli("sessions", "show", "NOSUCH")
    assert proc.returncode != 0 and "Traceback" in proc.err and "UserError" in proc.err


# ----------------------------------------------------------------------------- JSON output

def test_recommend_json_is_one_object_on_stdout():
    text = "A support bot that answers from our product docs, which change weekly, in our brand voice."
    data = one_json_object(advisor_cli("recommend", text, "--json"))
    assert data["decision"] in ("rag", "hybrid", "fine-tuning", "prompting", "undecided")
    assert {"decision", "confidence", "engine", "profile", "rationale", "citations", "open_questions"} <= set(data)
    assert data["engine"] == "offline"
    checker = QuoteChecker(load_article())
    assert data["citations"] and all(checker.is_verbatim(c["quote"], c["section_id"]) for c in data["citations"])


def test_recommend_reads_stdin_in_both_languages():
    data = one_json_object(advisor_cli("recommend", "-", "--json",
                                       stdin="我们要做一个内部知识库问答，文档每周更新，回答必须注明出处。"))
    assert data["decision"] == "rag" and data["lang"] == "zh"


def test_recommend_fits_a_screen_and_full_adds_the_quotes_and_the_coverage(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    text = "We want the model to write product copy in our brand's quirky voice, but we only have a few hundred examples."
    short, full = advisor_cli("recommend", text), advisor_cli("recommend", "--full", text)
    assert short.returncode == 0 and full.returncode == 0, short.err + full.err
    assert len(short.out.rstrip("\n").split("\n")) <= 40 and max(map(len, short.out.split("\n"))) <= 80
    assert "What would change it" in short.out and "「" not in short.out
    assert "「" in full.out and "What the article covers" in full.out and "not covered" in full.out


def test_search_json_is_one_object_on_stdout():
    data = one_json_object(advisor_cli("search", "does my data change often?", "--json", "-k", "4"))
    assert set(data) == {"query", "results"} and len(data["results"]) == 4
    source = load_article().source
    for r in data["results"]:
        assert set(r) == {"section_id", "heading_path", "score", "text", "source_start", "source_end"}
        assert source[r["source_start"]:r["source_end"]] == r["text"]


def test_search_prints_passages_for_people():
    proc = advisor_cli("search", "will the model make things up?", "-k", "3")
    assert proc.returncode == 0 and "Traceback" not in proc.err
    assert "considerations.hallucination" in squash(proc.out)


@pytest.mark.slow
def test_recommend_about_self_decides_rag_with_citations():
    data = one_json_object(advisor_cli("recommend", "--about-self", "--json"))
    assert data["decision"] == "rag"
    assert data["profile"]["external_knowledge"]["value"] == "yes"
    assert data["rationale"] and all(r["citations"] for r in data["rationale"])
    checker = QuoteChecker(load_article())
    assert all(checker.is_verbatim(c["quote"], c["section_id"]) for c in data["citations"])
    md = advisor_cli("recommend", "--about-self", "--markdown")
    assert md.returncode == 0 and md.out.startswith("# ")


# ----------------------------------------------------------------------------- chat and sessions

def _sessions() -> list[dict]:
    return one_json_object(advisor_cli("sessions", "list", "--json"))["sessions"]


def _export(session_id: str) -> dict:
    return one_json_object(advisor_cli("sessions", "export", session_id, "--format", "json"))


@pytest.mark.slow
def test_chat_from_a_pipe_lists_exports_and_resumes():
    questions = wording().questions
    proc = advisor_cli("chat", stdin=f"{SALES}\nyes\n")
    assert proc.returncode == 0, proc.err
    out = squash(proc.out)
    assert squash(questions["external_knowledge"].en.q) in out, "first question asked"
    assert squash(questions["model_adaptation"].en.q) in out, "second question asked"
    assert squash(wording().decision_names["en"]["rag"]) in out, "best recommendation at end of input"

    sessions = _sessions()
    assert len(sessions) == 1 and sessions[0]["decision"] == "rag" and sessions[0]["title"] == SALES
    sid = sessions[0]["id"]
    assert sid in proc.err, "the session id is shown so it can be resumed"

    record = _export(sid)
    state = record["state"]
    assert record["id"] == sid and state["description"] == SALES and state["done"]
    answers = [(e["dimension"], e["answer"]) for e in state["history"]]
    assert ("external_knowledge", "yes") in answers
    assert state["recommendation"]["decision"] == "rag"

    md = advisor_cli("sessions", "export", sid, "--format", "md")
    assert md.returncode == 0 and SALES in md.out and "**A:** yes" in md.out
    show = advisor_cli("sessions", "show", sid)
    assert show.returncode == 0 and SALES in show.out
    bad = advisor_cli("sessions", "export", sid, "--format", "xml")
    assert "--format" in assert_one_line_error(bad)

    again = advisor_cli("chat", "--resume", sid)
    assert again.returncode == 0 and f"Resuming session {sid}" in again.err
    assert squash(wording().decision_names["en"]["rag"]) in squash(again.out)
    assert len(_sessions()) == 1, "resuming does not create a session"


@pytest.mark.slow
def test_chat_in_chinese_and_commands_from_a_pipe():
    proc = advisor_cli("chat", stdin="我们在给销售团队做一个助手。\n为什么\n跳过\n直接推荐\n")
    assert proc.returncode == 0, proc.err
    out = squash(proc.out)
    zh = wording().questions
    assert squash(zh["external_knowledge"].zh.q) in out
    assert squash(zh["external_knowledge"].zh.why) in out, "为什么 explains"
    assert squash(zh["model_adaptation"].zh.q) in out, "跳过 moves on"
    state = _export(_sessions()[0]["id"])["state"]
    assert state["lang"] == "zh" and "external_knowledge" in state["skipped"] and state["done"]


@pytest.mark.slow
def test_chat_skips_bad_lines_and_keeps_going():
    proc = advisor_cli("chat", stdin=b"\xff\xfe broken\n" + SALES.encode() + b"\nyes\n")
    assert proc.returncode == 0 and "Traceback" not in proc.err
    assert "UTF-8" in proc.err
    state = _export(_sessions()[0]["id"])["state"]
    assert state["description"] == SALES


def _wait_for(predicate, what: str, deadline: float = 90.0):
    """Poll an observable state (the session store) until it holds; no fixed sleeps."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_a_killed_chat_keeps_every_answered_turn():
    child = subprocess.Popen([*CMD, "chat"], cwd=ROOT, stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        child.stdin.write(f"{SALES}\nyes\n".encode())
        child.stdin.flush()

        def answered():
            sessions = _sessions()
            if not sessions:
                return None
            state = _export(sessions[0]["id"])["state"]
            got = [(e["dimension"], e["answer"]) for e in state["history"]]
            if state["description"] == SALES and ("external_knowledge", "yes") in got:
                return sessions[0]["id"]
            return None

        sid = _wait_for(answered, "both answers in the session store")
        assert child.poll() is None, "still waiting for the next answer"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    state = _export(sid)["state"]
    assert not state["done"] and state["pending"] == "model_adaptation"
    assert state["profile"]["external_knowledge"]["value"] == "yes"

    resumed = advisor_cli("chat", "--resume", sid, stdin="no\n")
    assert resumed.returncode == 0, resumed.err
    out = squash(resumed.out)
    assert squash(wording().questions["model_adaptation"].en.q) in out, "asks the pending question again"
    assert squash(wording().questions["external_knowledge"].en.q) not in out, "answered turns are not asked again"
    final = _export(sid)["state"]
    assert final["done"] and final["recommendation"]["decision"] == "rag"
    assert final["profile"]["external_knowledge"]["value"] == "yes"
    assert final["profile"]["model_adaptation"] == {"value": "no", "evidence": "no", "source": "stated"}


@pytest.mark.slow
def test_resume_without_an_id_takes_the_latest():
    assert advisor_cli("chat", stdin=f"{SALES}\n").returncode == 0
    sid = _sessions()[0]["id"]
    proc = advisor_cli("chat", "--resume")
    assert proc.returncode == 0 and f"Resuming session {sid}" in proc.err


@pytest.mark.parametrize("args", [("sessions", "list"), ("sessions", "list", "--json"), ("chat",),
                                  ("sessions", "show", "abc"), ("chat", "--resume")])
def test_a_corrupt_sessions_db_is_one_line_and_left_untouched(clean_env, args):
    db = clean_env / "sessions.db"
    garbage = b"SQLite format 3\x00" + bytes(range(256)) * 40
    db.write_bytes(garbage)
    digest = hashlib.sha256(garbage).hexdigest()
    before = sorted(p.name for p in clean_env.iterdir())
    line = assert_one_line_error(advisor_cli(*args, stdin=f"{SALES}\n"))
    assert "unreadable" in line and "sessions.db" in line
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in clean_env.iterdir()) == before


# ----------------------------------------------------------------------------- index

@pytest.mark.slow
def test_index_then_rebuild(clean_env):
    first = advisor_cli("index", timeout=300)
    assert first.returncode == 0, first.err
    assert "already up to date" in first.out
    # index folders only: `vectors/` keeps embeddings by text hash for the next build
    folders = [p for p in (clean_env / "index").iterdir() if not p.name.startswith(".") and p.name != "vectors"]
    assert len(folders) == 1 and str(folders[0]) in squash(first.out)
    manifest = (folders[0] / "manifest.json").read_bytes()

    rebuilt = advisor_cli("index", "--rebuild", timeout=300)
    assert rebuilt.returncode == 0, rebuilt.err
    assert "built in" in rebuilt.out and "chunks" in rebuilt.out
    assert [p for p in (clean_env / "index").iterdir() if not p.name.startswith(".") and p.name != "vectors"] == folders
    assert (clean_env / "index" / "vectors").is_dir()
    assert json.loads((folders[0] / "manifest.json").read_bytes()).keys() == json.loads(manifest).keys()

    after = advisor_cli("index")
    assert after.returncode == 0 and "already up to date" in after.out
    assert one_json_object(advisor_cli("search", "latency", "--json"))["results"]


@pytest.mark.slow
@pytest.mark.no_index_seed
def test_first_run_builds_the_index_by_itself(clean_env):
    assert not (clean_env / "index").exists()
    data = one_json_object(advisor_cli("search", "is fine-tuning expensive?", "--json", timeout=300))
    assert data["results"]
    assert any((clean_env / "index").iterdir())


# ----------------------------------------------------------------------------- after the advice, in the chat

WEEKLY = "We want a support bot that answers from our product docs, which change weekly. No special style is needed."


@pytest.mark.slow
def test_chat_takes_what_ifs_and_changes_after_the_advice_and_resumes_a_finished_session():
    en = wording().replies["en"]
    proc = advisor_cli("chat", stdin=f"{WEEKLY}\nyes\nwhat if our data were static?\n")
    assert proc.returncode == 0, proc.err
    out = squash(proc.out)
    assert squash(en["leave"]) in out, "the chat says how to leave"
    assert squash(en["followup_hint"]) in out, "after the advice it says what can be asked"
    assert squash("Facts that changed: data changes often yes → no.") in out
    sid = _sessions()[0]["id"]
    state = _export(sid)["state"]
    assert state["done"] and state["profile"]["data_dynamics"]["value"] == "yes", "a what-if saves nothing"

    again = advisor_cli("chat", "--resume", sid, stdin="change the data answer to no\n")
    assert again.returncode == 0, again.err
    assert squash(en["change_head"].format(said="change the data answer to no")) in squash(again.out)
    state = _export(sid)["state"]
    assert state["profile"]["data_dynamics"]["value"] == "no" and state["done"], "a change is saved"
    assert state["history"][-1]["answer"] == "change the data answer to no"
    assert len(_sessions()) == 1


def test_quit_leaves_the_chat_with_the_session_saved():
    proc = advisor_cli("chat", stdin=f"{SALES}\nquit\nyes\n")
    assert proc.returncode == 0, proc.err
    sid = _sessions()[0]["id"]
    assert f"Session {sid} saved" in proc.err
    state = _export(sid)["state"]
    assert not state["done"] and all(e["answer"] is None for e in state["history"]), "nothing after quit is read"


def test_ctrl_c_leaves_cleanly_with_the_session_saved():
    child = subprocess.Popen([*CMD, "chat"], cwd=ROOT, stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        child.stdin.write(f"{SALES}\n".encode())
        child.stdin.flush()
        sid = _wait_for(lambda: (_sessions() or [{}])[0].get("id"), "the session to be saved")
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    err = err.decode()
    assert child.returncode == 130 and "Traceback" not in err
    assert f"session {sid} is saved" in err
    assert _export(sid)["state"]["description"] == SALES


# ----------------------------------------------------------------------------- history

HR = "We need a bot over our HR handbook; answers must cite the policy."


def test_recommend_is_logged_unless_told_not_to(monkeypatch):
    data = one_json_object(advisor_cli("recommend", "--json", HR))
    [logged] = _sessions()
    assert logged["channel"] == "recommend" and logged["decision"] == data["decision"]
    record = _export(logged["id"])
    assert record["state"]["done"] and record["state"]["description"] == HR
    assert record["state"]["recommendation"]["decision"] == data["decision"]

    assert advisor_cli("recommend", "--no-log", "--json", "A summariser for legal contracts.").returncode == 0
    monkeypatch.setenv("ADVISOR_LOG", "0")
    assert advisor_cli("recommend", "A summariser for legal contracts.").returncode == 0
    assert [s["id"] for s in _sessions()] == [logged["id"]], "--no-log and ADVISOR_LOG=0 log nothing"


def test_an_unwritable_store_costs_the_log_not_the_advice(clean_env):
    (clean_env / "sessions.db").mkdir()  # a folder where the database file should be
    proc = advisor_cli("recommend", "--json", HR)
    assert proc.returncode == 0 and json.loads(proc.out)["decision"] == "rag"
    [line] = proc.err.splitlines()
    assert line.startswith("note: not logged") and "--no-log" in line


def test_sessions_list_count_query_and_json():
    for text in (HR, "A summariser for legal contracts.", "我们要做一个客服机器人，回答要基于产品手册。"):
        assert advisor_cli("recommend", "--json", text).returncode == 0
    everything = _sessions()
    assert len(everything) == 3 and everything[0]["title"].startswith("我们")
    newest = one_json_object(advisor_cli("sessions", "list", "-n", "1", "--json"))["sessions"]
    assert [s["id"] for s in newest] == [everything[0]["id"]]
    found = one_json_object(advisor_cli("sessions", "list", "-q", "hr HANDBOOK", "--json"))["sessions"]
    assert len(found) == 1 and HR.startswith(found[0]["title"].rstrip("…"))
    assert one_json_object(advisor_cli("sessions", "list", "-q", "产品手册", "--json"))["sessions"][0]["id"] \
        == everything[0]["id"]
    none = advisor_cli("sessions", "list", "-q", "nothing-like-this")
    assert none.returncode == 0 and "No sessions match" in none.out
    assert "-n" in assert_one_line_error(advisor_cli("sessions", "list", "-n", "0"))


def test_version():
    from importlib.metadata import version

    proc = advisor_cli("--version")
    assert proc.returncode == 0 and proc.out.strip() == f"advisor {version('advisor')}"


def test_export_md_gives_the_full_advice():
    data = one_json_object(advisor_cli("recommend", "--json", HR))
    sid = _sessions()[0]["id"]
    md = advisor_cli("sessions", "export", sid, "--format", "md")
    assert md.returncode == 0, md.err
    assert HR in md.out and "| Dimension | Value | Source | Evidence |" in md.out, "the profile table"
    for reason in data["rationale"]:
        for c in reason["citations"]:
            assert c["quote"] in md.out, "every reason's verbatim quote"
    assert md.out.startswith("# ") and md.out.count("\n# ") == 0, "one title; the advice's headings sit below it"
