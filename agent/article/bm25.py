"""BM25 (Lucene's variant, k1=1.5, b=0.75) over a few hundred chunks, in numpy.

The article is 69 chunks: a dense (chunks x vocabulary) table of per-term scores is a few
hundred kilobytes, and a query's scores are one column sum. This replaces bm25s, whose
import alone (tqdm, asyncio, ssl) cost more than every query of a CLI run; the scores are
bm25s's "lucene" formulas: idf = ln(1 + (N - df + .5) / (df + .5)), term weight
tf / (tf + k1 (1 - b + b len / avglen)).
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Optional

import numpy as np

K1 = 1.5
B = 0.75


class BM25:
    """Scores for every document against a tokenised query; a repeated query token counts again."""

    def __init__(self, docs: list[list[str]], k1: float = K1, b: float = B):
        vocab: dict[str, int] = {}
        counts = [Counter(doc) for doc in docs]
        for c in counts:
            for tok in c:
                vocab.setdefault(tok, len(vocab))
        n = len(docs)
        tf = np.zeros((n, len(vocab)), dtype=np.float64)
        for i, c in enumerate(counts):
            for tok, k in c.items():
                tf[i, vocab[tok]] = k
        lengths = np.array([len(doc) for doc in docs], dtype=np.float64)
        avg = lengths.mean() if n and lengths.mean() > 0 else 1.0
        df = (tf > 0).sum(axis=0)
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        norm = k1 * (1.0 - b + b * lengths / avg)
        weight = tf / (tf + norm[:, None])  # Lucene drops the constant (k1 + 1) factor
        self.vocab = vocab
        self._table = (weight * idf[None, :]).astype(np.float32)

    @classmethod
    def load(cls, path: Path, key: str) -> Optional["BM25"]:
        """The table saved at `path` for the same `key` (docs, tokenizer, formulas); None otherwise."""
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) != key:
                    return None
                vocab, table = z["vocab"], z["table"]
        except (OSError, ValueError, KeyError):
            return None
        if table.ndim != 2 or table.shape[1] != len(vocab):
            return None
        bm = cls.__new__(cls)
        bm.vocab = {str(t): i for i, t in enumerate(vocab)}
        bm._table = table.astype(np.float32, copy=False)
        return bm

    def save(self, path: Path, key: str) -> None:
        """Write the table beside the index (atomically); a failure costs the next process a rebuild."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        try:
            np.savez(tmp, key=np.array(key), vocab=np.array(list(self.vocab)), table=self._table)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)

    def get_scores(self, tokens: list[str]) -> np.ndarray:
        """(n_docs,) float32; tokens outside the vocabulary add nothing."""
        ids = [self.vocab[t] for t in tokens if t in self.vocab]
        if not ids:
            return np.zeros(self._table.shape[0], dtype=np.float32)
        return self._table[:, ids].sum(axis=1, dtype=np.float32)
