"""The offline engine's batch on worker processes: the same OUT as one process, in input order."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from agent.fronts.batch.pool import MIN_ROWS_FOR_WORKERS, default_workers, use_workers
from agent.fronts.batch.run import EXIT_INPUT, run_batch
from agent.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "evals" / "golden" / "advisor.golden.v1.yaml"


def _input(path: Path) -> Path:
    cases = yaml.safe_load(GOLDEN.read_text("utf-8"))["cases"][:14]
    lines = [json.dumps({"id": c["id"], "description": c["description"]}, ensure_ascii=False) for c in cases]
    # input errors between good rows: they must come out where they stand, not first or last
    lines.insert(3, json.dumps({"id": "empty", "description": "  "}))
    lines.insert(9, "{not json")
    lines.insert(11, json.dumps({"id": cases[0]["id"], "description": "a duplicate id"}))
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def _ids(path: Path) -> list:
    return [json.loads(line).get("id") for line in path.read_text("utf-8").splitlines()]


def test_two_workers_write_what_one_process_writes_and_resume_finishes_the_rest(tmp_path):
    inp = _input(tmp_path / "in.jsonl")
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert run_batch(Settings.from_env(), str(inp), one, engine="offline", workers=1) == EXIT_INPUT
    assert run_batch(Settings.from_env(), str(inp), two, engine="offline", workers=2) == EXIT_INPUT
    assert two.read_bytes() == one.read_bytes()  # same lines, same order, byte for byte
    assert _ids(one)[3] == "empty" and len(_ids(one)) == 17

    # a run cut short after 5 lines: --resume with workers keeps those and appends the rest once
    part = tmp_path / "part.jsonl"
    part.write_text("".join(one.read_text("utf-8").splitlines(keepends=True)[:5]), "utf-8")
    run_batch(Settings.from_env(), str(inp), part, engine="offline", workers=2, resume=True)
    ok_ids = [i for i, line in zip(_ids(part), part.read_text("utf-8").splitlines()) if '"error"' not in line]
    assert sorted(ok_ids) == sorted(i for i, line in zip(_ids(one), one.read_text("utf-8").splitlines())
                                    if '"error"' not in line)
    assert len(ok_ids) == len(set(ok_ids))


@pytest.mark.parametrize("workers,total,want", [
    (None, MIN_ROWS_FOR_WORKERS - 1, 1),  # a short input: this process, already loaded
    (None, None, default_workers()),  # stdin: size unknown
    (None, 10_000, default_workers()),
    (3, 5, 3),  # asked for: given
    (1, 10_000, 1),
])
def test_how_many_workers(workers, total, want):
    assert use_workers(workers, total) == want
