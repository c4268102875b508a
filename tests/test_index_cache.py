"""An edit to the article re-embeds only what it changed: vectors are kept by text hash."""
from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

from agent.article.index import VectorCache, build, load_or_build, vector_cache_path
from agent.article.source import knowledge_dir, load_article

pytestmark = pytest.mark.no_index_seed


class CountingEmbedder:
    """Deterministic vectors from each text's hash; counts the texts it is asked to embed."""

    name = "counting-test-embedder"

    def __init__(self):
        self.texts: list[str] = []
        self.calls: list[int] = []

    def _vec(self, prefix: str, text: str) -> np.ndarray:
        seed = int(hashlib.sha256(f"{prefix}{text}".encode()).hexdigest()[:8], 16)
        v = np.random.default_rng(seed).standard_normal(16).astype(np.float32)
        return v / np.linalg.norm(v)

    def passages(self, texts):
        self.texts += texts
        self.calls.append(len(texts))
        return np.stack([self._vec("p:", t) for t in texts]) if texts else np.zeros((0, 16), np.float32)

    def queries(self, texts):
        self.texts += texts
        self.calls.append(len(texts))
        return np.stack([self._vec("q:", t) for t in texts])

    def query(self, text):
        return self._vec("q:", text)


def _edited_article(tmp_path):
    folder = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), folder, ignore=shutil.ignore_patterns("index"))
    article = load_article()
    src = folder / article.section_map.source
    first = article.sections[10].text.split("。")[0]
    src.write_text(src.read_text("utf-8").replace(first, first + "，这是编辑后的句子", 1), "utf-8")
    return load_article(str(folder))


def test_an_edit_re_embeds_only_the_changed_texts_and_gives_the_vectors_a_full_build_gives(tmp_path):
    emb, index_dir = CountingEmbedder(), tmp_path / "index"
    first = load_or_build(load_article(), emb, index_dir)
    cold = len(emb.texts)
    assert first.built and cold > 100 and max(emb.calls) <= VectorCache.BATCH
    assert vector_cache_path(index_dir, emb).exists()

    edited = _edited_article(tmp_path)
    emb.texts.clear()
    second = load_or_build(edited, emb, index_dir)
    assert second.built and second.path != first.path
    assert 1 <= len(emb.texts) <= 2, emb.texts  # the edited chunk (and its section card), nothing else
    assert all("编辑后" in t for t in emb.texts)

    full = build(edited, CountingEmbedder())
    for name in ("chunk_vectors", "section_vectors"):
        assert np.array_equal(getattr(full, name), getattr(second, name)), name


def test_a_forced_rebuild_or_a_damaged_cache_embeds_everything(tmp_path):
    emb, index_dir = CountingEmbedder(), tmp_path / "index"
    load_or_build(load_article(), emb, index_dir)
    cold = len(emb.texts)
    emb.texts.clear()
    load_or_build(load_article(), emb, index_dir, rebuild=True)
    assert len(emb.texts) == cold
    vector_cache_path(index_dir, emb).write_bytes(b"not an npz")
    shutil.rmtree(next(p for p in index_dir.iterdir() if p.name != "vectors"))
    emb.texts.clear()
    load_or_build(load_article(), emb, index_dir)
    assert len(emb.texts) == cold
