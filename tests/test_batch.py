"""`advisor batch`: input formats, error rows, durability (resume, torn lines, kill -9), report.

One ADVISOR_HOME (and one warmed Advisor) per module: the index is built once, ~12 s.
"""
from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from homes import module_home, offline_advisor
import yaml

from agent.fronts.batch.run import BatchStats, run_batch, run_rows
from agent.fronts.batch.files import BatchInputError, ResultWriter, Row, open_input
from agent.explaining.render import to_json
from agent.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "evals" / "golden" / "advisor.golden.v1.yaml"
DESIGN_KEYS = {"decision", "confidence", "engine", "profile", "rationale", "citations", "open_questions"}

pytestmark = pytest.mark.no_index_seed  # this module builds its own index, once


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def batch_home(tmp_path_factory, request) -> Path:
    return module_home(tmp_path_factory, request, "batch-home")


@pytest.fixture(scope="module")
def shared_advisor(batch_home):
    """One offline Advisor with its index built (and its citation cache warmed) once."""
    return offline_advisor(batch_home)


@pytest.fixture
def home(batch_home, monkeypatch) -> Path:
    for name in list(os.environ):
        if name.startswith(("ADVISOR_", "OPENAI_", "SLACK_", "AZURE_OPENAI")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ADVISOR_HOME", str(batch_home))
    return batch_home


@pytest.fixture
def run(home, shared_advisor):
    """run(IN, OUT, **options) -> exit code, in-process with the shared Advisor."""
    def _run(inp, out, **kw):
        kw.setdefault("engine", "offline")
        return run_batch(Settings.from_env(), str(inp), Path(out), advisor=shared_advisor, **kw)
    return _run


@pytest.fixture(scope="module")
def descriptions() -> list[tuple[str, str]]:
    cases = yaml.safe_load(GOLDEN.read_text("utf-8"))["cases"]
    return [(c["id"], c["description"]) for c in cases]


def write_jsonl(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    return path


def read_out(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def by_id(lines: list[dict]) -> dict:
    return {ln["id"]: ln for ln in lines}


# --------------------------------------------------------------------------- formats

def test_jsonl_lines_are_the_recommend_json_plus_id_first(run, tmp_path, descriptions, shared_advisor):
    rows = [{"id": i, "description": d} for i, d in descriptions[:3]]
    inp, out = write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"

    assert run(inp, out) == 0

    lines = read_out(out)
    assert [ln["id"] for ln in lines] == [r["id"] for r in rows]
    for ln, row in zip(lines, rows):
        assert next(iter(ln)) == "id"
        assert DESIGN_KEYS <= ln.keys()
        expected = to_json(shared_advisor.recommend(row["description"]))
        assert {k: v for k, v in ln.items() if k != "id"} == expected


def test_csv_input_with_quoted_commas_newlines_and_extra_columns(run, tmp_path, descriptions):
    inp, out = tmp_path / "in.csv", tmp_path / "out.jsonl"
    with open(inp, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["team", "ID", "Description"])
        w.writerow(["a", "r1", descriptions[0][1]])
        w.writerow(["b", "r2", "Support bot, trained on our tone,\nanswers from the docs that change weekly."])
        w.writerow(["c", "r3", descriptions[5][1]])

    assert run(inp, out) == 0

    lines = read_out(out)
    assert [ln["id"] for ln in lines] == ["r1", "r2", "r3"]
    assert all(DESIGN_KEYS <= ln.keys() for ln in lines)


def test_format_is_sniffed_when_the_suffix_says_nothing(tmp_path):
    (tmp_path / "a.txt").write_text('\n  {"id": "1", "description": "x"}\n', "utf-8")
    (tmp_path / "b.txt").write_text("id,description\n1,x\n", "utf-8")
    assert open_input(str(tmp_path / "a.txt")).fmt == "jsonl"
    assert open_input(str(tmp_path / "b.txt")).fmt == "csv"
    assert open_input(str(tmp_path / "b.txt")).total == 1


def test_stdin_input(run, tmp_path, monkeypatch, descriptions):
    data = "".join(json.dumps({"id": f"s{i}", "description": d}) + "\n" for i, (_, d) in enumerate(descriptions[:2]))
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(data.encode("utf-8"))))
    out = tmp_path / "out.jsonl"

    assert run("-", out) == 0

    assert [ln["id"] for ln in read_out(out)] == ["s0", "s1"]


def test_csv_from_stdin_is_sniffed(run, tmp_path, monkeypatch):
    data = 'id,description\nc1,"A chatbot over our product manuals, which change every week."\n'
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(data.encode("utf-8"))))
    out = tmp_path / "out.jsonl"

    assert run("-", out) == 0

    assert [ln["id"] for ln in read_out(out)] == ["c1"]


# --------------------------------------------------------------------------- bad rows

def test_bad_rows_become_error_lines_and_the_batch_goes_on(run, tmp_path, descriptions):
    good = descriptions[0][1]
    rows = [
        {"id": "ok1", "description": good},
        {"description": good},                                  # no id
        {"id": "empty", "description": "   "},
        {"id": "huge", "description": "word " * 25_000},         # 125k characters
        "{not json",
        "[1, 2]",
        {"id": "nodesc"},
        {"id": True, "description": good},
        {"id": "binary", "description": "abc\x00def"},
        {"id": 7, "description": good},                         # an integer id is fine
        {"id": "ok2", "description": good},
    ]
    inp, out = write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"

    assert run(inp, out) == 3  # only input errors: --resume cannot fix them

    lines = read_out(out)
    assert len(lines) == len(rows)
    errors = {(ln["id"], ln["error"]["type"]) for ln in lines if "error" in ln}
    assert errors == {(None, "missing_id"), ("empty", "empty_description"), ("huge", "description_too_long"),
                      (None, "bad_json"), ("nodesc", "missing_description"), (None, "bad_id"),
                      ("binary", "invalid_description")}
    for ln in lines:
        if "error" in ln:
            assert set(ln) == {"id", "line", "error"} and set(ln["error"]) == {"type", "message"}
            assert ln["error"]["message"]
    ok = [ln["id"] for ln in lines if "error" not in ln]
    assert ok == ["ok1", "7", "ok2"]
    assert next(ln for ln in lines if ln.get("error", {}).get("type") == "bad_json")["line"] == 5


def test_duplicate_ids_keep_the_first_row(run, tmp_path, descriptions):
    rows = [{"id": "a", "description": descriptions[0][1]}, {"id": "b", "description": descriptions[1][1]},
            {"id": "a", "description": descriptions[2][1]}]
    inp, out = write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"

    assert run(inp, out) == 3  # only input errors: --resume cannot fix them

    lines = read_out(out)
    # The duplicate's line does not carry the live id (a reader keyed by id keeps the result);
    # the id it repeats has a field of its own.
    assert [ln["id"] for ln in lines] == ["a", "b", None]
    assert "error" not in lines[0] and "error" not in lines[1]
    assert lines[2]["error"] == {"type": "duplicate_id", "duplicate_of": "a",
                                 "message": "id 'a' was already used on line 1; this row was not run"}
    assert by_id(lines)["a"]["decision"]


def test_an_invalid_utf8_line_fails_only_that_row(run, tmp_path, descriptions):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    good = json.dumps({"id": "g1", "description": descriptions[0][1]}).encode()
    bad = b'{"id": "latin1", "description": "caf\xe9 menu bot"}'
    inp.write_bytes(good + b"\n" + bad + b"\n" + good.replace(b'"g1"', b'"g2"') + b"\n")

    assert run(inp, out) == 3  # only input errors: --resume cannot fix them

    lines = read_out(out)
    assert [ln["id"] for ln in lines] == ["g1", "latin1", "g2"]
    assert lines[1]["error"]["type"] == "bad_encoding" and lines[1]["line"] == 2


def test_csv_bad_rows(run, tmp_path, descriptions):
    inp, out = tmp_path / "in.csv", tmp_path / "out.jsonl"
    body = (b"id,description\n"
            b"c1,A bot over our wiki that changes weekly\n"
            b"c2,too,many,fields\n"
            b"c3,caf\xe9\n"
            b",no id here\n"
            b"c5,A bot over our wiki that changes weekly\n")
    inp.write_bytes(body)

    assert run(inp, out) == 3  # only input errors: --resume cannot fix them

    got = [(ln["id"], ln.get("error", {}).get("type")) for ln in read_out(out)]
    assert got == [("c1", None), ("c2", "bad_columns"), ("c3", "bad_encoding"), (None, "missing_id"), ("c5", None)]


def test_fatal_problems_raise_a_user_error_with_exit_code_2(run, tmp_path):
    with pytest.raises(BatchInputError, match="no such file") as exc:
        run(tmp_path / "missing.jsonl", tmp_path / "out.jsonl")
    assert exc.value.exit_code == 2
    (tmp_path / "cols.csv").write_text("name,text\na,b\n", "utf-8")
    with pytest.raises(BatchInputError, match="id and description columns"):
        run(tmp_path / "cols.csv", tmp_path / "out2.jsonl")
    (tmp_path / "ok.csv").write_text("id,description\na,b\n", "utf-8")
    with pytest.raises(BatchInputError, match="does not exist"):
        run(tmp_path / "ok.csv", tmp_path / "nowhere" / "out.jsonl")
    assert not (tmp_path / "out2.jsonl").exists()


# --------------------------------------------------------------------------- durability

def test_refuses_to_overwrite_out_without_resume(run, tmp_path, descriptions):
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "description": descriptions[0][1]}])
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "precious", "decision": "rag"}\n', "utf-8")

    with pytest.raises(BatchInputError, match="--resume"):
        run(inp, out)
    assert out.read_text("utf-8") == '{"id": "precious", "decision": "rag"}\n'

    out.write_text("", "utf-8")  # an empty OUT is fine
    assert run(inp, out) == 0


def test_resume_skips_done_ids_retries_failed_ones_and_writes_no_id_twice(run, tmp_path, descriptions,
                                                                            shared_advisor, monkeypatch):
    out = tmp_path / "out.jsonl"
    first = [{"id": "a", "description": descriptions[0][1]}, {"id": "b", "description": ""},
             {"id": "c", "description": descriptions[2][1]}]
    assert run(write_jsonl(tmp_path / "in1.jsonl", first), out) == 3  # only input errors: --resume cannot fix them
    assert [ln.get("error", {}).get("type") for ln in read_out(out)] == [None, "empty_description", None]

    # The input is fixed and grows; only b (failed before) and d (new) may run.
    fixed = first[:1] + [{"id": "b", "description": descriptions[1][1]}] + first[2:] + \
        [{"id": "d", "description": descriptions[3][1]}]
    calls = []
    real = shared_advisor.recommend
    monkeypatch.setattr(shared_advisor, "recommend", lambda text, *a, **k: calls.append(text) or real(text, *a, **k))
    assert run(write_jsonl(tmp_path / "in2.jsonl", fixed), out, resume=True) == 0

    assert calls == [descriptions[1][1], descriptions[3][1]]
    lines = read_out(out)
    assert sorted(ln["id"] for ln in lines) == ["a", "b", "c", "d"]
    assert not any("error" in ln for ln in lines)

    # Resuming a finished run does nothing.
    calls.clear()
    assert run(tmp_path / "in2.jsonl", out, resume=True) == 0
    assert calls == [] and len(read_out(out)) == 4


def test_a_torn_last_line_is_cut_off_on_resume(run, tmp_path, descriptions):
    rows = [{"id": f"t{i}", "description": d} for i, (_, d) in enumerate(descriptions[:3])]
    inp, out = write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"
    assert run(inp, out) == 0
    whole = out.read_bytes()
    cut = whole.rindex(b'{"id": "t2"') + 200  # a kill in the middle of writing t2's line
    out.write_bytes(whole[:cut])

    assert run(inp, out, resume=True) == 0

    lines = read_out(out)  # every line parses
    assert [ln["id"] for ln in lines] == ["t0", "t1", "t2"]
    assert out.read_bytes() == whole


def test_a_line_that_is_not_a_result_in_the_middle_of_out_is_fatal(run, tmp_path, descriptions):
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "description": descriptions[0][1]}])
    out = tmp_path / "out.jsonl"
    out.write_text("hello\n" + '{"id": "x", "decision": "rag"}\n', "utf-8")
    with pytest.raises(BatchInputError, match="line 1 is not a batch result"):
        run(inp, out, resume=True)


def test_two_runs_cannot_append_to_the_same_out(tmp_path):
    out = tmp_path / "out.jsonl"
    with ResultWriter(out):
        with pytest.raises(BatchInputError, match="another advisor batch"):
            ResultWriter(out)


def test_kill_mid_run_then_resume_gives_every_id_exactly_once(home, tmp_path, descriptions):
    n = 200
    rows = [{"id": f"k{i:03d}", "description": f"{descriptions[i % 3][1]} (Team {i}.)"} for i in range(n)]
    inp, out = write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "agent.fronts.cli.main", "batch", str(inp), "--out", str(out), "--engine", "offline"]
    env = {**os.environ, "ADVISOR_HOME": str(home)}

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 20:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"finished before the kill: {proc.stderr.read().decode()[-500:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = out.read_bytes().count(b"\n")
    assert 20 <= written < n

    done = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, timeout=300)

    assert done.returncode == 0, done.stderr.decode()[-800:]
    lines = read_out(out)
    ids = [ln["id"] for ln in lines]
    assert sorted(ids) == [r["id"] for r in rows]  # each id exactly once
    assert not any("error" in ln for ln in lines)
    assert b"already done" in done.stderr


def test_a_row_that_crashes_fails_alone_but_a_configuration_error_stops_the_batch():
    from agent.fronts.batch.run import recommend_row
    from agent.errors import UserError

    def boom(text):
        raise RuntimeError("kaput")

    def misconfigured(text):
        raise UserError("knowledge/cues.yaml: invalid cue lexicon")

    row = Row(3, "r", "A bot over our wiki.")
    settings = SimpleNamespace(debug=False)
    line = recommend_row(SimpleNamespace(recommend=boom, settings=settings), row)
    assert line == {"id": "r", "line": 3, "error": {"type": "internal_error", "message": "RuntimeError: kaput"}}
    with pytest.raises(UserError, match="cue lexicon"):
        recommend_row(SimpleNamespace(recommend=misconfigured, settings=settings), row)
    bad = recommend_row(SimpleNamespace(recommend=boom, settings=settings), Row(4, "b", "nul\x00byte"))
    assert bad["error"]["type"] == "invalid_description"


# --------------------------------------------------------------------------- concurrency

def test_concurrent_rows_stay_bounded_and_all_get_written(tmp_path):
    import threading

    active, peak, lock = [0], [0], threading.Lock()

    def slow(row: Row) -> dict:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.01)
        with lock:
            active[0] -= 1
        return {"id": row.id, "decision": "rag"}

    rows = [Row(i + 1, f"r{i}", "text") for i in range(40)]
    with ResultWriter(tmp_path / "out.jsonl") as w:
        stats = run_rows(iter(rows), {"r3"}, w, slow, BatchStats(), concurrency=4)

    assert peak[0] == 4
    assert stats.ok == 39 and stats.skipped == 1
    assert sorted(ln["id"] for ln in read_out(tmp_path / "out.jsonl")) == sorted(f"r{i}" for i in range(40) if i != 3)


# --------------------------------------------------------------------------- report

def test_report_has_summary_charts_and_one_csv_row_per_line(run, tmp_path, descriptions):
    rows = [{"id": i, "description": d} for i, d in descriptions[:6]] + [{"id": "bad", "description": ""}]
    inp, out, rep = write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl", tmp_path / "rep"

    assert run(inp, out, report=rep) == 3  # only input errors: --resume cannot fix them

    summary = (rep / "summary.md").read_text("utf-8")
    assert "![Decisions](decisions.png)" in summary and "7 rows: 6 recommendations, 1 failed" in summary
    for png in ("decisions.png", "decided_by.png", "open_questions.png"):
        assert (rep / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(rep / "results.csv", encoding="utf-8", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["id", "decision", "confidence", "decided_by", "top_reason", "error"]
    lines = by_id(read_out(out))
    assert [r["id"] for r in table] == [r["id"] for r in rows]
    for r in table[:-1]:
        ln = lines[r["id"]]
        assert r["decision"] == ln["decision"] and float(r["confidence"]) == ln["confidence"]
        assert r["decided_by"] == ";".join(ln["decided_by"]) and r["error"] == ""
        assert r["top_reason"] == (ln["rationale"][0]["text"] if ln["rationale"] else "")
    assert table[-1]["decision"] == "" and table[-1]["error"].startswith("empty_description: ")


# --------------------------------------------------------------------------- a fake OpenAI endpoint

class FakeOpenAI:
    """Files, Batches and chat completions on 127.0.0.1 at a random port.

    A batch stays in_progress while `hold` is set, else completes on the next poll. The reply
    to an extraction names external_knowledge (yes) and model_adaptation (no) with the user's
    own first words as evidence; a custom_id containing "garbled" gets a reply that is not
    JSON, one containing "fail" ends up in the error file with a 500.
    """

    def __init__(self, chat_delay: float = 0.0):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.created: list[dict] = []
        self.chats = 0
        self.active = self.peak = 0
        self.hold = False
        self.chat_delay = chat_delay
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream" if isinstance(body, bytes)
                                 else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._send(*fake.post(self.path, self.headers.get("Content-Type", ""), raw))

            def do_GET(self):
                self._send(*fake.get(self.path))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ endpoints
    def post(self, path: str, ctype: str, raw: bytes):
        if path == "/v1/files":
            from email.parser import BytesParser

            msg = BytesParser().parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
            parts = {p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
                     for p in msg.get_payload()}
            fid = f"file-in-{len(self.files)}"
            self.files[fid] = parts["file"]
            return 200, {"id": fid, "object": "file", "bytes": len(parts["file"]), "created_at": 0,
                         "filename": "requests.jsonl", "purpose": parts["purpose"].decode()}
        if path == "/v1/batches":
            req = json.loads(raw)
            bid = f"batch_{len(self.batches)}"
            self.created.append(req)
            self.batches[bid] = {"id": bid, "object": "batch", "endpoint": req["endpoint"], "errors": None,
                                 "input_file_id": req["input_file_id"], "completion_window": "24h",
                                 "status": "validating", "created_at": 0, "output_file_id": None,
                                 "error_file_id": None, "request_counts": {"total": 0, "completed": 0, "failed": 0}}
            return 200, self.batches[bid]
        if path == "/v1/chat/completions":
            with self.lock:
                self.chats += 1
                self.active += 1
                self.peak = max(self.peak, self.active)
            time.sleep(self.chat_delay)
            with self.lock:
                self.active -= 1
            return 200, self.completion(json.loads(raw), "chat")
        return 404, {"error": {"message": f"no route {path}"}}

    def get(self, path: str):
        if path.startswith("/v1/batches/"):
            batch = self.batches[path.rsplit("/", 1)[1]]
            if self.hold:
                batch["status"] = "in_progress"
            elif batch["status"] != "completed":
                self.finish(batch)
            return 200, batch
        if path.startswith("/v1/files/") and path.endswith("/content"):
            return 200, self.files[path.split("/")[3]]
        return 404, {"error": {"message": f"no route {path}"}}

    def finish(self, batch: dict) -> None:
        ok, failed = [], []
        for line in self.files[batch["input_file_id"]].decode().splitlines():
            req = json.loads(line)
            cid = req["custom_id"]
            if "fail" in cid:
                failed.append({"id": f"req_{cid}", "custom_id": cid, "error": None, "response": {
                    "status_code": 500, "body": {"error": {"message": "server error", "type": "server_error"}}}})
            else:
                ok.append({"id": f"req_{cid}", "custom_id": cid, "error": None,
                           "response": {"status_code": 200, "body": self.completion(req["body"], cid)}})
        for name, rows in (("output_file_id", ok), ("error_file_id", failed)):
            if rows:
                fid = f"file-{name}-{batch['id']}"
                self.files[fid] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                batch[name] = fid
        batch["status"] = "completed"
        batch["request_counts"] = {"total": len(ok) + len(failed), "completed": len(ok), "failed": len(failed)}

    @staticmethod
    def completion(body: dict, cid: str) -> dict:
        user = body["messages"][-1]["content"]
        text = user.split("<user_text>", 1)[1].split("</user_text>", 1)[0].strip()
        words = " ".join(text.split()[:4])
        findings = {"findings": [
            {"dimension": "external_knowledge", "value": "yes", "evidence": words, "source": "stated"},
            {"dimension": "model_adaptation", "value": "no", "evidence": words, "source": "stated"}]}
        content = "this is not JSON" if "garbled" in cid else json.dumps(findings)
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}


@pytest.fixture
def fake_openai(monkeypatch, home):
    server = FakeOpenAI()
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-batch-0123456789")
    monkeypatch.setattr("agent.fronts.batch.openai_batch.POLL_SECONDS", (0.01, 0.01))
    yield server
    server.close()


def test_llm_engine_runs_rows_concurrently_with_one_advisor_per_thread(tmp_path, fake_openai, descriptions,
                                                                        shared_advisor):
    from agent.api import Advisor

    fake_openai.chat_delay = 0.05
    rows = [{"id": f"l{i}", "description": d} for i, (_, d) in enumerate(descriptions[:12])]
    inp, out = write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"
    adv = Advisor(Settings.from_env(), engine="llm")
    adv.__dict__.update(index=shared_advisor.index, citer=shared_advisor.citer)  # skip loading them again

    assert run_batch(Settings.from_env(), str(inp), out, engine="llm", concurrency=4, advisor=adv) == 0

    lines = read_out(out)
    assert sorted(ln["id"] for ln in lines) == sorted(r["id"] for r in rows)
    assert all(ln["engine"] == "llm" and ln["decision"] == "rag" for ln in lines)
    assert not [n for ln in lines for n in ln["notices"] if "offline" in n]  # no row fell back
    assert fake_openai.chats == 12 and 1 < fake_openai.peak <= 4


def test_openai_batch_submits_polls_and_merges(run, tmp_path, fake_openai, descriptions):
    rows = [{"id": "ok-1", "description": descriptions[0][1]}, {"id": "ok-2", "description": descriptions[3][1]},
            {"id": "garbled", "description": descriptions[1][1]}, {"id": "fail", "description": descriptions[2][1]},
            {"id": "empty", "description": ""}]
    inp, out = write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"

    assert run(inp, out, openai_batch=True, engine=None) == 3  # only input errors: --resume cannot fix them

    assert len(fake_openai.created) == 1 and fake_openai.created[0]["endpoint"] == "/v1/chat/completions"
    sent = [json.loads(x) for x in fake_openai.files["file-in-0"].decode().splitlines()]
    assert [r["custom_id"] for r in sent] == ["ok-1", "ok-2", "garbled", "fail"]
    assert all(r["url"] == "/v1/chat/completions" and r["body"]["model"] == "gpt-4o-mini" for r in sent)
    lines = by_id(read_out(out))
    assert sorted(lines) == ["empty", "fail", "garbled", "ok-1", "ok-2"]
    for rid in ("ok-1", "ok-2"):
        assert lines[rid]["engine"] == "llm" and lines[rid]["decision"] == "rag" and lines[rid]["notices"] == []
        assert lines[rid]["profile"]["model_adaptation"]["source"] == "stated"
    assert "did not fit" in lines["garbled"]["notices"][0] and "offline engine" in lines["garbled"]["notices"][0]
    assert "500" in lines["fail"]["notices"][0]
    assert lines["empty"]["error"]["type"] == "empty_description"
    assert not list(tmp_path.glob("out.jsonl.openai-batch*"))  # state and downloads cleaned up


def test_openai_batch_is_resumed_from_its_saved_batch_id(home, tmp_path, fake_openai, descriptions, shared_advisor):
    from agent.fronts.batch.openai_batch import run_openai_batch

    rows = [{"id": f"b{i}", "description": d} for i, (_, d) in enumerate(descriptions[:3])]
    inp, out = write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"
    fake_openai.hold = True

    def interrupt(seconds):
        raise KeyboardInterrupt

    assert run_openai_batch(Settings.from_env(), str(inp), out, sleep=interrupt, advisor=shared_advisor) is None
    state = json.loads((tmp_path / "out.jsonl.openai-batch.json").read_text())
    assert state["batch_id"] == "batch_0" and state["requests"] == 3
    with pytest.raises(BatchInputError, match="already submitted"):
        run_batch(Settings.from_env(), str(inp), out, openai_batch=True, advisor=shared_advisor)

    fake_openai.hold = False
    assert run_batch(Settings.from_env(), str(inp), out, openai_batch=True, resume=True, advisor=shared_advisor) == 0

    assert len(fake_openai.created) == 1  # waited for the same batch, did not submit another
    assert sorted(ln["id"] for ln in read_out(out)) == ["b0", "b1", "b2"]
    assert not (tmp_path / "out.jsonl.openai-batch.json").exists()
