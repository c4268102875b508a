"""The learned heads: a small multi-task network over clause vectors, run in numpy.

For each clause the input is its own vector, its neighbours' and the text's mean (so "we have
40k of them" can lean on the clause before it). Outputs: for every dimension, none / yes / no;
and the role of what the clause mentions. Weights are trained by `training/train_heads.py`
(torch, training only) and shipped as `agent/reading/model/heads.npz` with a card.
"""
from __future__ import annotations

import json
import re
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..types import ALL_DIMENSIONS, ROLES

MODEL_DIR = Path(__file__).resolve().parent / "model"
VALUES = ("none", "yes", "no")


def features(vecs: np.ndarray) -> np.ndarray:
    """[clause, previous, next, mean of the text] for each row of a text's clause vectors."""
    n, d = vecs.shape
    zero = np.zeros((1, d), dtype=np.float32)
    prev = np.vstack([zero, vecs[:-1]]) if n else vecs
    nxt = np.vstack([vecs[1:], zero]) if n else vecs
    mean = np.repeat(vecs.mean(axis=0, keepdims=True), n, axis=0) if n else vecs
    return np.hstack([vecs, prev, nxt, mean]).astype(np.float32)


NGRAM_BUCKETS = 4096
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[\u3400-\u9fff]")


def ngram_ids(text: str, buckets: int = NGRAM_BUCKETS) -> list[int]:
    """Hashed word uni- and bigrams (Chinese: character uni- and bigrams) of a clause.

    A learned lexicon: which words matter is learned from the corpus, not written by hand.
    """
    toks = _TOKEN.findall(text.lower())
    grams = toks + [a + " " + b for a, b in zip(toks, toks[1:])]
    return sorted({zlib.crc32(g.encode("utf-8")) % buckets for g in grams})


def ngram_features(texts: list[str], buckets: int = NGRAM_BUCKETS) -> np.ndarray:
    """(n, buckets) L2-normalised binary n-gram indicators."""
    out = np.zeros((len(texts), buckets), dtype=np.float32)
    for i, t in enumerate(texts):
        ids = ngram_ids(t, buckets)
        if ids:
            out[i, ids] = 1.0 / np.sqrt(len(ids))
    return out


def inputs(vecs: np.ndarray, texts: list[str], buckets: int) -> np.ndarray:
    """The network's input rows: clause-vector features, then (if the heads use them) n-gram features."""
    x = features(vecs)
    return np.hstack([x, ngram_features(texts, buckets)]) if buckets else x


def text_inputs(vecs: np.ndarray, text: str, buckets: int) -> np.ndarray:
    """The description head's input: mean and max of the clause vectors, and the text's n-grams."""
    d = vecs.shape[1]
    pooled = [vecs.mean(0), vecs.max(0)] if len(vecs) else [np.zeros(d, np.float32), np.zeros(d, np.float32)]
    parts = pooled + ([ngram_features([text], buckets)[0]] if buckets else [])
    return np.concatenate(parts).astype(np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class Heads:
    """Forward pass of the trained network: `predict(features)` -> (dimension probs, role probs)."""

    def __init__(self, weights: dict[str, np.ndarray], meta: dict):
        self.w1, self.b1 = weights["w1"], weights["b1"]
        self.wd, self.bd = weights["wd"], weights["bd"]
        self.wr, self.br = weights["wr"], weights["br"]
        self.cal = {k[4:]: weights[k] for k in weights if k.startswith("cal.")}
        # The description head (optional): the whole text's none/yes/no per dimension, learned from
        # description labels, which are exact where clause labels sit on one clause per fact.
        self.q = (weights["q1"], weights["qb1"], weights["qd"], weights["qbd"]) if "q1" in weights else None
        self.meta = meta
        self.dims = tuple(meta["dimensions"])
        self.roles = tuple(meta["roles"])
        self.ngram_buckets = int(meta.get("ngram_buckets", 0))
        assert self.dims == ALL_DIMENSIONS and self.roles == ROLES, "heads trained for another label set"

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, dims, 3) probabilities of none/yes/no, and (n, roles) role probabilities."""
        h = np.maximum(x @ self.w1 + self.b1, 0.0)
        dim = _softmax((h @ self.wd + self.bd).reshape(len(x), len(self.dims), 3))
        role = _softmax(h @ self.wr + self.br)
        return dim, role

    def read_text(self, vecs: np.ndarray, text: str) -> np.ndarray:
        """(dims, 3) none/yes/no for the whole text, or None without a description head."""
        if self.q is None:
            return None
        w1, b1, wd, bd = self.q
        h = np.maximum(text_inputs(vecs, text, self.ngram_buckets) @ w1 + b1, 0.0)
        return _softmax((h @ wd + bd).reshape(len(self.dims), 3))

    def read_clauses(self, vecs: np.ndarray, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """`predict` on a text's clauses, given their vectors and their words."""
        return self.predict(inputs(vecs, texts, self.ngram_buckets))

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> "Heads":
        with np.load(directory / "heads.npz") as z:
            weights = {k: z[k].astype(np.float32) for k in z.files}
        meta = json.loads((directory / "heads.json").read_text(encoding="utf-8"))
        return cls(weights, meta)


@lru_cache(maxsize=1)
def shipped() -> Heads:
    """The heads shipped with the package."""
    return Heads.load()
