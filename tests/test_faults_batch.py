"""Fault suite, batch: hostile rows and ids, broken folders, a full disk, SIGTERM.

No input may stop a run or print a traceback; each failure is a row's error line or one
clear line with an exit code that says whether a retry can help (see the README).
Rerun: .venv/bin/python -m pytest -q -m faults
"""
from __future__ import annotations

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from homes import module_home, offline_advisor

from agent.fronts.batch.run import EXIT_INPUT, EXIT_OK, EXIT_RETRYABLE, EXIT_TERMINATED, run_batch
from agent.fronts.batch.files import BatchInputError
from agent.settings import Settings

pytestmark = [pytest.mark.faults, pytest.mark.no_index_seed]

GOOD = "We want a support bot that answers from our product docs, which change every week."


@pytest.fixture(scope="module")
def fault_home(tmp_path_factory, request) -> Path:
    return module_home(tmp_path_factory, request, "faults-batch-home")


@pytest.fixture(scope="module")
def adv(fault_home):
    return offline_advisor(fault_home)


@pytest.fixture
def run(adv, fault_home, monkeypatch):
    monkeypatch.setenv("ADVISOR_HOME", str(fault_home))

    def _run(inp, out, **kw):
        kw.setdefault("engine", "offline")
        return run_batch(Settings.from_env(), str(inp), Path(out), advisor=adv, **kw)
    return _run


def jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), "utf-8")
    return path


def read_out(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_lone_surrogates_fail_their_rows_and_resume_goes_past_them(run, tmp_path):
    inp = jsonl(tmp_path / "in.jsonl", [
        json.dumps({"id": "ok1", "description": GOOD}),
        '{"id": "sur-desc", "description": "a bot over our wiki \\ud800 please"}',
        '{"id": "\\udfff", "description": "a bot over our wiki"}',
        '{"id": "\\ud800", "description": "broken \\x"}',  # bad JSON whose id is a lone surrogate
        json.dumps({"id": "ok2", "description": GOOD}),
    ])
    out = tmp_path / "out.jsonl"

    assert run(inp, out) == EXIT_INPUT
    for _ in range(2):  # resuming reruns the failed rows; they fail again, the same way, no crash
        assert run(inp, out, resume=True) == EXIT_INPUT

    lines = read_out(out)
    got = sorted((ln["id"] or "-", ln.get("error", {}).get("type", "ok")) for ln in lines)
    assert got == [("-", "bad_encoding"), ("-", "bad_json"), ("ok1", "ok"), ("ok2", "ok"),
                   ("sur-desc", "bad_encoding")]
    assert "lone surrogate" in next(ln for ln in lines if ln["id"] == "sur-desc")["error"]["message"]
    out.read_bytes().decode("utf-8")  # OUT stays valid UTF-8


def test_a_99k_character_row_is_bounded_in_time(run, tmp_path):
    huge = ("We need a bot over our docs which change weekly, cite sources, 40k tickets. " * 1400)[:99_000]
    inp = jsonl(tmp_path / "in.jsonl", [json.dumps({"id": "huge", "description": huge})])
    started = time.monotonic()

    assert run(inp, tmp_path / "out.jsonl") == EXIT_OK

    # A guarantee with slack, not a benchmark: the issue measured over two minutes.
    assert time.monotonic() - started < 60


def test_a_binary_file_is_named_as_not_text(run, tmp_path):
    for name in ("blob.csv", "blob.bin", "blob.jsonl"):
        inp = tmp_path / name
        inp.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
        with pytest.raises(BatchInputError, match="not UTF-8 text") as exc:
            run(inp, tmp_path / f"{name}.out.jsonl")
        assert exc.value.exit_code == 2 and "\n" not in str(exc.value)
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("id,descripci\u00f3n\n1,caf\u00e9\n".encode("latin-1"))
    with pytest.raises(BatchInputError, match="not UTF-8 text"):
        run(latin, tmp_path / "latin.out.jsonl")


def test_exit_codes_tell_input_errors_from_retryable_failures(run, adv, tmp_path, monkeypatch):
    inp = jsonl(tmp_path / "in.jsonl", [json.dumps({"id": "a", "description": GOOD}),
                                        json.dumps({"id": "b", "description": GOOD + " (b)"})])
    real = adv.recommend

    def flaky(text, *a, **k):
        if text.endswith("(b)"):
            raise RuntimeError("the engine fell over")
        return real(text, *a, **k)

    monkeypatch.setattr(adv, "recommend", flaky)
    out = tmp_path / "out.jsonl"
    assert run(inp, out) == EXIT_RETRYABLE
    monkeypatch.setattr(adv, "recommend", real)
    assert run(inp, out, resume=True) == EXIT_OK  # the retry fixed it
    assert sorted(ln["id"] for ln in read_out(out)) == ["a", "b"]


CSV_HOSTILE_IDS = ["=1+1", "+SUM(A1:A9)", "-2+3", "@cmd", "\tTAB", "=HYPERLINK(\"http://evil\")",
                   "<img src=x onerror=alert(1)>", "[click](http://evil)", "a|b"]


def test_report_neutralises_formula_cells_and_escapes_ids_in_markdown(run, tmp_path):
    rows = [json.dumps({"id": i, "description": GOOD}) for i in CSV_HOSTILE_IDS]
    rows += [json.dumps({"id": i + " (2)", "description": ""}) for i in CSV_HOSTILE_IDS]  # failed: in summary.md
    rows += ['{"id": "\\rCR", "description": "a bot"}',  # an id with a line break is refused…
             '{"id": "x\\r| injected | row |", "description": broken']  # …but a broken line's peeked id is shown
    inp, out, rep = jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl", tmp_path / "rep"

    assert run(inp, out, report=rep) == EXIT_INPUT

    with open(rep / "results.csv", encoding="utf-8", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(rows)
    for r in table:
        for value in r.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), f"formula cell {value!r}"
    assert [r["id"].removeprefix("'") for r in table[:len(CSV_HOSTILE_IDS)]] == CSV_HOSTILE_IDS
    summary = (rep / "summary.md").read_text("utf-8")
    assert "<img" not in summary and "](http" not in summary and "\r" not in summary
    assert "| injected |" not in summary  # no row smuggled into a table
    assert [ln["error"]["type"] for ln in read_out(out)[-2:]] == ["bad_id", "bad_json"]
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in summary and "\\[click\\]\\(http://evil\\)" in summary


def test_report_at_an_existing_file_fails_before_any_row_runs(run, tmp_path):
    inp = jsonl(tmp_path / "in.jsonl", [json.dumps({"id": "a", "description": GOOD})])
    (tmp_path / "taken").write_text("mine", "utf-8")
    with pytest.raises(BatchInputError, match="is a file"):
        run(inp, tmp_path / "out.jsonl", report=tmp_path / "taken")
    assert not (tmp_path / "out.jsonl").exists() and (tmp_path / "taken").read_text("utf-8") == "mine"


def test_out_in_a_folder_that_cannot_be_created_is_one_line(run, tmp_path):
    inp = jsonl(tmp_path / "in.jsonl", [json.dumps({"id": "a", "description": GOOD})])
    (tmp_path / "plainfile").write_text("x", "utf-8")
    with pytest.raises(BatchInputError, match="not a folder"):
        run(inp, tmp_path / "plainfile" / "out.jsonl")
    with pytest.raises(BatchInputError, match="does not exist"):
        run(inp, tmp_path / "no" / "such" / "out.jsonl")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(BatchInputError, match="cannot write"):
            run(inp, locked / "out.jsonl")


def test_a_full_disk_is_reported_as_a_full_disk(run, tmp_path, monkeypatch):
    import agent.fronts.batch.files as bio

    inp = jsonl(tmp_path / "in.jsonl", [json.dumps({"id": f"r{i}", "description": GOOD}) for i in range(3)])
    out = tmp_path / "out.jsonl"
    real_write, calls = os.write, []

    def full(fd, data):
        calls.append(fd)
        if len(calls) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(bio.os, "write", full)
    with pytest.raises(BatchInputError, match="disk is full") as exc:
        run(inp, out)
    assert exc.value.exit_code == 2
    monkeypatch.setattr(bio.os, "write", real_write)
    assert [ln["id"] for ln in read_out(out)] == ["r0"]  # what was written stays
    assert run(inp, out, resume=True) == EXIT_OK
    assert sorted(ln["id"] for ln in read_out(out)) == ["r0", "r1", "r2"]


def test_sigterm_flushes_like_ctrl_c_and_resume_loses_no_row(fault_home, tmp_path):
    n = 400
    rows = [json.dumps({"id": f"s{i:03d}", "description": f"{GOOD} (Team {i}.)"}) for i in range(n)]
    inp, out = jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "agent.fronts.cli.main", "batch", str(inp), "--out", str(out), "--engine", "offline"]
    env = {**os.environ, "ADVISOR_HOME": str(fault_home)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 10:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "finished before SIGTERM"
    proc.send_signal(signal.SIGTERM)
    stderr = proc.communicate(timeout=60)[1].decode()
    before_resume = out.read_bytes().count(b"\n")

    assert proc.returncode == EXIT_TERMINATED, stderr[-500:]
    assert "terminated:" in stderr and "--resume" in stderr and "Traceback" not in stderr
    assert out.read_bytes().endswith(b"\n")  # flushed whole lines only
    done = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, timeout=300)
    assert done.returncode == EXIT_OK, done.stderr.decode()[-500:]
    ids = [ln["id"] for ln in read_out(out)]
    expected = {f"s{i:03d}" for i in range(n)}
    figures = {"rows": n, "written_before_sigterm": before_resume, "lost": len(expected - set(ids)),
               "duplicates": len(ids) - len(set(ids))}
    print(f"\nFAULT-FIGURES batch-sigterm: {json.dumps(figures)}")
    assert sorted(ids) == [f"s{i:03d}" for i in range(n)]  # no row lost, none twice
