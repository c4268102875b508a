"""The knowledge index: chunks and section cards with their vectors, cached on disk.

The cache folder is named by a fingerprint of the source, the section map, the chunking
recipe and the embedding model, so any change to one of them builds a new index by
itself. Files are written to a temporary folder and renamed into place, and a manifest
with checksums is checked on load: a half-written or corrupt cache is rebuilt, never used.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .chunking import CHUNK_CHARS, CHUNK_OVERLAP, chunk_article
from .embeddings import Embedder
from .source import Article, knowledge_dir
from ..types import Chunk

INDEX_VERSION = 6  # 6: no sentence or phrase vectors (quotes come from knowledge/quotes.yaml)
# A prebuilt index for the bundled article and model ships inside the package (refresh it with
# `python -m agent.article.index --ship`); it is used only when its cache key matches exactly.
SHIPPED_DIR = knowledge_dir() / "index"


@dataclass
class IndexData:
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    section_ids: list[str]
    section_vectors: np.ndarray
    path: Path | None = None
    built: bool = False
    build_seconds: float = 0.0


def passage_text(chunk: Chunk, title_en: str) -> str:
    """What the dense model sees: heading path and English title give it cross-lingual hooks."""
    return f"{' / '.join(chunk.heading_path)} ({title_en})\n{chunk.text}"


def section_card(section) -> str:
    """What the dense model sees of a whole section: its headings and our English title and summary."""
    return f"{' / '.join(section.heading_path)}\n{section.title_en}. {section.summary_en}"


def cache_key(article: Article, embedder: Embedder) -> str:
    """The index folder's name: what the index was built from. Not an identifier (it has a dash), so
    setuptools never takes the shipped folder for a Python package."""
    recipe = f"{article.fingerprint()}|{CHUNK_CHARS}|{CHUNK_OVERLAP}|{embedder.name}|v{INDEX_VERSION}"
    return f"v{INDEX_VERSION}-" + hashlib.sha256(recipe.encode()).hexdigest()[:16]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(folder: Path) -> IndexData | None:
    try:
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        files = manifest["files"]
        if set(files) != {"chunks.json", *(f"{v}.npy" for v in _VECTORS)}:
            return None  # a manifest that does not vouch for every file vouches for none
        for name, digest in files.items():
            if _sha(folder / name) != digest:
                return None
        raw = json.loads((folder / "chunks.json").read_text("utf-8"))
        chunks = [Chunk.model_validate(c) for c in raw["chunks"]]
        vec = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in _VECTORS}
        data = IndexData(chunks, vec["chunk_vectors"], raw["section_ids"], vec["section_vectors"], path=folder)
        sizes = ((data.chunk_vectors, chunks), (data.section_vectors, data.section_ids))
        if any(v.shape[0] != len(items) for v, items in sizes):
            return None
        return data
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


_VECTORS = ("chunk_vectors", "section_vectors")


def build(article: Article, embedder: Embedder, cache: "VectorCache | None" = None) -> IndexData:
    """Chunk and embed the article and its section cards.

    With a `cache`, a text embedded by an earlier build (same embedder) is not embedded again,
    so an edit to the article re-embeds only the chunks it changed.
    """
    t0 = time.perf_counter()
    cache = cache or VectorCache(None)
    titles = {s.id: s.title_en for s in article.sections}
    chunks = chunk_article(article)
    sections = list(article.sections)
    passages = lambda texts: cache.embed(texts, "passage", embedder.passages)  # noqa: E731
    cv = passages([passage_text(c, titles[c.section_id]) for c in chunks])
    secv = passages([section_card(s) for s in sections])
    return IndexData(chunks, cv, [s.id for s in sections], secv, built=True,
                     build_seconds=time.perf_counter() - t0)


class VectorCache:
    """Vectors by the hash of (kind, text), for one embedder: what an earlier build already embedded.

    Kept as one .npz beside the index folders; each build keeps only the vectors it used.
    """

    BATCH = 8  # texts per model call: small batches stay in the CPU's cache (and cost less memory)

    def __init__(self, path: Path | None, load: bool = True):
        self.path = path
        self._vectors: dict[str, np.ndarray] = {}
        self.used: set[str] = set()
        self.embedded = 0  # texts this build had to embed
        if path is not None and load:
            try:
                with np.load(path, allow_pickle=False) as z:
                    keys, vecs = z["keys"], z["vectors"]
                if len(keys) == len(vecs):
                    self._vectors = {str(k): v for k, v in zip(keys, vecs)}
            except (OSError, ValueError, KeyError):
                pass  # no cache, or a damaged one: embed everything

    @staticmethod
    def key(kind: str, text: str) -> str:
        return hashlib.sha256(f"{kind}\0{text}".encode("utf-8")).hexdigest()[:32]

    def embed(self, texts: list[str], kind: str, fn) -> np.ndarray:
        """Vectors for `texts`, calling `fn` (a batch embedder) only for texts not seen before."""
        keys = [self.key(kind, t) for t in texts]
        todo = list(dict.fromkeys((k, t) for k, t in zip(keys, texts) if k not in self._vectors))
        for i in range(0, len(todo), self.BATCH):
            batch = todo[i:i + self.BATCH]
            vecs = np.asarray(fn([t for _, t in batch]), dtype=np.float32).reshape(len(batch), -1)
            for (k, _), v in zip(batch, vecs):
                self._vectors[k] = v
        self.embedded += len(todo)
        self.used.update(keys)
        if not keys:
            return np.asarray(fn([]), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys])

    def save(self) -> None:
        """Write the vectors this build used (atomically); a failure only costs the next build time."""
        if self.path is None or not self.used:
            return
        keys = sorted(self.used)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp.npz")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(tmp, keys=np.array(keys), vectors=np.stack([self._vectors[k] for k in keys]))
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)


def vector_cache_path(index_dir: Path, embedder: Embedder) -> Path:
    """Where `embedder`'s vectors are kept under the index cache."""
    return index_dir / "vectors" / f"{hashlib.sha256(embedder.name.encode()).hexdigest()[:16]}.npz"


def _save(data: IndexData, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        payload = {"chunks": [c.model_dump() for c in data.chunks],
                   "section_ids": data.section_ids}
        (tmp / "chunks.json").write_text(json.dumps(payload, ensure_ascii=False), "utf-8")
        for name in _VECTORS:
            np.save(tmp / f"{name}.npy", getattr(data, name))
        files = {n: _sha(tmp / n) for n in ["chunks.json", *(f"{v}.npy" for v in _VECTORS)]}
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
    key = cache_key(article, embedder)
    folder = index_dir / key
    if not rebuild:
        data = _load(folder)
        if data is not None:
            return data
        shipped = _load(SHIPPED_DIR / key)
        if shipped is not None:  # the package ships this exact index: a first run needs no build
            try:
                folder.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(SHIPPED_DIR / key, folder, dirs_exist_ok=True)
                shipped.path = folder
            except OSError:
                pass
            return shipped
    # A forced rebuild embeds everything afresh (and refreshes the kept vectors).
    cache = VectorCache(vector_cache_path(index_dir, embedder), load=not rebuild)
    data = build(article, embedder, cache)
    try:
        _save(data, folder)
        data.path = folder
    except OSError:
        pass  # a read-only home still gets a working (uncached) index
    cache.save()
    return data


def ship(article: Article, embedder: Embedder) -> Path:
    """Write the index for the bundled article and model into the package (replacing the old one)."""
    data = build(article, embedder)
    folder = SHIPPED_DIR / cache_key(article, embedder)
    if SHIPPED_DIR.exists():
        shutil.rmtree(SHIPPED_DIR)
    _save(data, folder)
    return folder


if __name__ == "__main__":  # python -m agent.article.index --ship
    import sys

    from .embeddings import LocalE5
    from .source import load_article

    if sys.argv[1:] != ["--ship"]:
        sys.exit("usage: python -m agent.article.index --ship")
    print(ship(load_article(), LocalE5()))
