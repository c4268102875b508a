"""Hybrid search over the article: dense (e5) and BM25 rankings fused by reciprocal rank.

The dense side lets an English question find Chinese passages; BM25 (CJK bigrams plus
English stems, over each chunk and its section's English title and summary) rewards exact
terms. Reciprocal-rank fusion needs no score calibration between the two.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .bm25 import BM25
from .embeddings import Embedder
from ..errors import UserError
from .index import SHIPPED_DIR, IndexData, load_or_build
from .source import Article
from ..textproc import tokenize
from .glossary import expansion_tokens
from ..types import SearchResult

RRF_K = 10  # measured on evals/retrieval: 10 beats the customary 60 on this small corpus
MAX_QUERY_CHARS = 2000


BM25_FILE = "bm25.npz"  # beside the cached index, outside its manifest: checked by its own key


def _bm25(docs: list[str], folder: Optional[Path]) -> BM25:
    """The BM25 table for `docs`: loaded from the index folder when it was saved for the same docs,
    tokenizer and formulas, else built (tokenizing 69 chunks costs more than loading) and saved."""
    import hashlib

    from .. import textproc
    from . import bm25

    h = hashlib.sha256()
    for module in (textproc, bm25):
        h.update(Path(module.__file__).read_bytes())
    h.update("\x00".join(docs).encode("utf-8"))
    key = h.hexdigest()
    # never beside the index the package ships (a home that could not take its copy reads it in place)
    path = folder / BM25_FILE if folder is not None and folder.parent != SHIPPED_DIR else None
    cached = BM25.load(path, key) if path is not None and path.exists() else None
    if cached is not None:
        return cached
    table = BM25([tokenize(d) for d in docs])
    if path is not None:
        table.save(path, key)
    return table


class KnowledgeIndex:
    """The article, its cached index and both rankers, ready to answer queries."""

    def __init__(self, article: Article, embedder: Embedder, data: IndexData):
        self.article = article
        self.embedder = embedder
        self.data = data
        sections = article.by_id
        docs = []
        for c in data.chunks:
            s = sections[c.section_id]
            docs.append(" ".join([*c.heading_path, c.text, s.title_en, s.summary_en]))
        self._bm25 = _bm25(docs, data.path)
        self._vocab = self._bm25.vocab
        sec_pos = {sid: i for i, sid in enumerate(data.section_ids)}
        self._chunk_section = np.array([sec_pos[c.section_id] for c in data.chunks])

    @classmethod
    def open(cls, article: Article, embedder: Embedder, index_dir: Path,
             rebuild: bool = False) -> "KnowledgeIndex":
        """Load the cached index (building it when needed)."""
        return cls(article, embedder, load_or_build(article, embedder, index_dir, rebuild))

    def _rank(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        qv = self.embedder.query(query)
        dense = self.data.chunk_vectors @ qv
        # Each chunk also carries its section card's score: our English title and summary are
        # what lets an English question reach a Chinese passage that shares no words with it.
        card = (self.data.section_vectors @ qv)[self._chunk_section]
        toks = [t for t in tokenize(query) + expansion_tokens(query) if t in self._vocab]
        sparse = np.asarray(self._bm25.get_scores(toks), dtype=np.float32) if toks else np.zeros_like(dense)
        fused = np.zeros_like(dense)
        for scores, weight in ((dense, 1.0), (card, 1.0), (sparse, 1.0)):
            if not np.any(scores):
                continue
            order = np.argsort(-scores, kind="stable")
            ranks = np.empty_like(order)
            ranks[order] = np.arange(len(order))
            fused += weight / (RRF_K + 1 + ranks)
        return fused, dense

    def search(self, query: str, k: int = 5) -> list[SearchResult]:
        """The k best passages for a question in English or Chinese."""
        query = (query or "").strip()
        if not query:
            raise UserError("the query is empty: ask a question, e.g. advisor search \"does my data change often?\"")
        if len(query) > MAX_QUERY_CHARS:
            raise UserError(f"the query is {len(query)} characters long; keep it under {MAX_QUERY_CHARS}")
        if k < 1:
            raise UserError("--k must be at least 1")
        fused, dense = self._rank(query)
        order, seen = [], set()
        for i in np.lexsort((-dense, -fused)):
            sid = self.data.chunks[i].section_id
            if sid in seen:  # one passage per section: k results cover k places in the article
                continue
            seen.add(sid)
            order.append(i)
            if len(order) == k:
                break
        top = 3.0 / (RRF_K + 1)
        return [
            SearchResult(section_id=c.section_id, heading_path=c.heading_path,
                         score=round(float(fused[i] / top), 4), text=c.text,
                         source_start=c.source_start, source_end=c.source_end)
            for i in order for c in [self.data.chunks[i]]
        ]

    def as_llama_retriever(self, k: int = 5):
        """This index as a llama-index `BaseRetriever`."""
        from llama_index.core.retrievers import BaseRetriever
        from llama_index.core.schema import NodeWithScore, TextNode

        index = self

        class ArticleRetriever(BaseRetriever):
            """Hybrid article search exposed through llama-index."""

            def _retrieve(self, query_bundle):
                return [
                    NodeWithScore(node=TextNode(
                        text=r.text, id_=f"{r.section_id}@{r.source_start}",
                        metadata={"section_id": r.section_id, "heading_path": r.heading_path},
                        start_char_idx=r.source_start, end_char_idx=r.source_end), score=r.score)
                    for r in index.search(query_bundle.query_str, k)
                ]

        return ArticleRetriever()
