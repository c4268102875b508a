"""The learned heads: a small multi-task network over clause vectors, run in numpy.

For each clause the input is its own vector, its neighbours' and the text's mean (so "we have
40k of them" can lean on the clause before it). Outputs: for every dimension, none / yes / no;
and the role of what the clause mentions. Weights are trained by `training/train_heads.py`
(torch, training only) and shipped as `agent/reading/model/heads.npz` with a card.
"""
from __future__ import annotations

import json
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
        self.meta = meta
        self.dims = tuple(meta["dimensions"])
        self.roles = tuple(meta["roles"])
        assert self.dims == ALL_DIMENSIONS and self.roles == ROLES, "heads trained for another label set"

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, dims, 3) probabilities of none/yes/no, and (n, roles) role probabilities."""
        h = np.maximum(x @ self.w1 + self.b1, 0.0)
        dim = _softmax((h @ self.wd + self.bd).reshape(len(x), len(self.dims), 3))
        role = _softmax(h @ self.wr + self.br)
        return dim, role

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> "Heads":
        with np.load(directory / "heads.npz") as z:
            weights = {k: z[k] for k in z.files}
        meta = json.loads((directory / "heads.json").read_text(encoding="utf-8"))
        return cls(weights, meta)


@lru_cache(maxsize=1)
def shipped() -> Heads:
    """The heads shipped with the package."""
    return Heads.load()
