"""The knowledge index: chunks and sentences with their vectors, cached on disk.

The cache folder is named by a fingerprint of the source, the section map, the chunking
recipe and the embedding model, so any change to one of them builds a new index by
itself. Files are written to a temporary folder and renamed into place, and a manifest
with checksums is checked on load: a half-written or corrupt cache is rebuilt, never used.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .chunking import CHUNK_CHARS, CHUNK_OVERLAP, chunk_article
from .embeddings import Embedder
from .knowledge import Article
from .types import Chunk

INDEX_VERSION = 4
_SENTENCE = re.compile(r"[^。！？!?；\n]+[。！？!?；]?")


@dataclass
class Sentence:
    section_id: str
    text: str
    source_start: int
    source_end: int


@dataclass
class IndexData:
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentences: list[Sentence]
    sentence_vectors: np.ndarray
    path: Path | None = None
    built: bool = False
    build_seconds: float = 0.0


def split_sentences(article: Article) -> list[Sentence]:
    """Every sentence of every section, with offsets into the source file."""
    out = []
    for sec in article.sections:
        for m in _SENTENCE.finditer(sec.text):
            text = m.group(0).strip().lstrip("•").strip()
            if len(text) < 12:  # captions such as 图片由作者提供 are not quotable reasons
                continue
            start = sec.start + m.start() + m.group(0).index(text)
            out.append(Sentence(sec.id, text, start, start + len(text)))
    return out


def passage_text(chunk: Chunk, title_en: str) -> str:
    """What the dense model sees: heading path and English title give it cross-lingual hooks."""
    return f"{' / '.join(chunk.heading_path)} ({title_en})\n{chunk.text}"


def cache_key(article: Article, embedder: Embedder) -> str:
    recipe = f"{article.fingerprint()}|{CHUNK_CHARS}|{CHUNK_OVERLAP}|{embedder.name}|v{INDEX_VERSION}"
    return hashlib.sha256(recipe.encode()).hexdigest()[:20]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(folder: Path) -> IndexData | None:
    try:
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        for name, digest in manifest["files"].items():
            if _sha(folder / name) != digest:
                return None
        raw = json.loads((folder / "chunks.json").read_text("utf-8"))
        chunks = [Chunk.model_validate(c) for c in raw["chunks"]]
        sentences = [Sentence(**s) for s in raw["sentences"]]
        cv = np.load(folder / "chunk_vectors.npy", allow_pickle=False)
        sv = np.load(folder / "sentence_vectors.npy", allow_pickle=False)
        if cv.shape[0] != len(chunks) or sv.shape[0] != len(sentences):
            return None
        return IndexData(chunks, cv, sentences, sv, path=folder)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build(article: Article, embedder: Embedder) -> IndexData:
    """Chunk, split and embed the article (no caching)."""
    t0 = time.perf_counter()
    titles = {s.id: s.title_en for s in article.sections}
    chunks = chunk_article(article)
    sentences = split_sentences(article)
    cv = embedder.passages([passage_text(c, titles[c.section_id]) for c in chunks])
    sv = embedder.passages([s.text for s in sentences])
    return IndexData(chunks, cv, sentences, sv, built=True, build_seconds=time.perf_counter() - t0)


def _save(data: IndexData, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        payload = {"chunks": [c.model_dump() for c in data.chunks],
                   "sentences": [s.__dict__ for s in data.sentences]}
        (tmp / "chunks.json").write_text(json.dumps(payload, ensure_ascii=False), "utf-8")
        np.save(tmp / "chunk_vectors.npy", data.chunk_vectors)
        np.save(tmp / "sentence_vectors.npy", data.sentence_vectors)
        files = {n: _sha(tmp / n) for n in ("chunks.json", "chunk_vectors.npy", "sentence_vectors.npy")}
        (tmp / "manifest.json").write_text(json.dumps({"files": files}), "utf-8")
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_or_build(article: Article, embedder: Embedder, index_dir: Path,
                  rebuild: bool = False) -> IndexData:
    """The cached index for this article and embedder; built (and saved) when missing or bad."""
    folder = index_dir / cache_key(article, embedder)
    if not rebuild:
        data = _load(folder)
        if data is not None:
            return data
    data = build(article, embedder)
    try:
        _save(data, folder)
        data.path = folder
    except OSError:
        pass  # a read-only home still gets a working (uncached) index
    return data
