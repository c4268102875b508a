"""OpenAI embeddings with the same face as the local embedder: name, query, passages."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..settings import Settings
from .client import LLMClient

BATCH = 256  # inputs per request, well under the API's limit of 2048


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible /embeddings endpoint, L2-normalised float32."""

    def __init__(self, settings: Settings, client: Optional[LLMClient] = None):
        self.settings = settings
        self.model = settings.embedding_model
        self.client = client or LLMClient(settings)

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    def query(self, text: str) -> np.ndarray:
        return self.passages([text])[0]

    def passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        rows: list[list[float]] = []
        for i in range(0, len(texts), BATCH):
            # The API rejects empty strings; a single space embeds as "nothing".
            batch = [t if t.strip() else " " for t in texts[i:i + BATCH]]
            rows.extend(self.client.embed(batch, self.model))
        vectors = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)
