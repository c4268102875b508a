"""The published contract (schemas/*.v1.json): fresh, valid, and obeyed by every JSON the advisor emits."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from agent import schemas

ROOT = Path(__file__).resolve().parents[1]
CMD = [sys.executable, "-m", "agent.fronts.cli.main"]


def validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator for one committed schema file (the file, not the generator)."""
    schema = json.loads((ROOT / "schemas" / name).read_text("utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([*CMD, *args], capture_output=True, cwd=cwd, timeout=180, text=True)


def test_committed_schemas_are_not_stale():
    assert schemas.stale() == [], "run make schemas"


def test_a_stale_schema_is_found_and_check_exits_1(tmp_path):
    schemas.write(tmp_path)
    assert schemas.stale(tmp_path) == []
    path = tmp_path / "recommendation.v1.json"
    path.write_text(path.read_text("utf-8").replace('"confidence"', '"certainty"'), "utf-8")
    assert schemas.stale(tmp_path) == ["recommendation.v1.json"]
    (tmp_path / "batch-row.v1.json").unlink()
    proc = subprocess.run([sys.executable, "-m", "agent.schemas", "--check", "--dir", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 1
    assert "recommendation.v1.json" in proc.stderr and "batch-row.v1.json" in proc.stderr


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_every_schema_is_valid_draft_2020_12(name):
    schema = json.loads((ROOT / "schemas" / name).read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"advisor/{name}"


def test_recommendation_schema_rejects_what_breaks_the_contract():
    v = validator("recommendation.v1.json")
    good = json.loads(run_cli("recommend", "--json", "We want a bot that answers from our wiki.").stdout)
    v.validate(good)
    for broken in ({k: val for k, val in good.items() if k != "decision"},
                   {**good, "decision": "maybe"},
                   {**good, "confidence": 1.5},
                   {**good, "citations": [{"quote": "no section id"}]}):
        assert list(v.iter_errors(broken)), broken


@pytest.mark.parametrize("text", [
    "We need a support chatbot over our product docs, which change weekly, in our brand voice. 40k tickets.",
    "我们要做一个内部知识库问答，必须给出出处。",
])
def test_recommend_json_validates(text):
    proc = run_cli("recommend", "--json", text)
    assert proc.returncode == 0, proc.stderr
    validator("recommendation.v1.json").validate(json.loads(proc.stdout))


def test_about_self_json_validates():
    proc = run_cli("recommend", "--json", "--about-self")
    assert proc.returncode == 0, proc.stderr
    validator("recommendation.v1.json").validate(json.loads(proc.stdout))


@pytest.mark.parametrize("query", ["does my data change often?", "数据每天都变怎么办"])
def test_search_json_validates(query):
    proc = run_cli("search", "--json", "--k", "3", query)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(data["results"]) == 3
    validator("search-response.v1.json").validate(data)


def test_batch_rows_validate_success_and_error_rows(tmp_path):
    rows = [
        {"id": "wiki-bot", "description": "A bot over our wiki that must cite its sources."},
        {"id": 7, "description": "我们想让模型用我们律所的风格写摘要，有两万份标注样本。"},
        {"description": "no id here"},
        {"id": "empty", "description": "   "},
        {"id": "wiki-bot", "description": "a duplicate id"},
    ]
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n{not json\n", "utf-8")
    out = tmp_path / "out.jsonl"
    proc = run_cli("batch", str(inp), "--out", str(out))
    assert proc.returncode == 3, proc.stderr  # some rows failed on purpose, all of them input errors
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(lines) == 6
    v = validator("batch-row.v1.json")
    for line in lines:
        v.validate(line)
    ok = [line for line in lines if "error" not in line]
    failed = [line for line in lines if "error" in line]
    assert [line["id"] for line in ok] == ["wiki-bot", "7"]
    assert len(failed) == 4 and any(line["id"] is None for line in failed)
    # A row that is neither shape is refused.
    assert list(v.iter_errors({"id": "x", "error": {"type": "t"}}))
    assert list(v.iter_errors({"id": "x", "decision": "rag"}))
