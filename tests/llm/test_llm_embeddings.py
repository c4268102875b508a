"""OpenAI embeddings: L2-normalised float32 rows in input order, batched."""
from __future__ import annotations

import numpy as np

from agent.llm import embeddings
from agent.llm.embeddings import OpenAIEmbedder

TEXTS = ["我们需要访问外部数据源", "fine-tune the model's style", "   "]


def test_openai_embedder(endpoint, cassette, settings_for):
    settings = settings_for(endpoint.url, endpoint.key, embedding_model=endpoint.embedding_model)
    embedder = OpenAIEmbedder(settings)
    assert embedder.name == f"openai:{endpoint.embedding_model}"
    rows = embedder.passages(TEXTS)
    assert rows.dtype == np.float32 and rows.shape[0] == 3 and rows.shape[1] >= 8
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    query = embedder.query(TEXTS[0])
    assert query.shape == (rows.shape[1],) and query.dtype == np.float32
    assert np.allclose(query, rows[0], atol=1e-3)
    assert not np.allclose(rows[0], rows[1], atol=1e-3)
    first = cassette.sent[0].json
    assert first["model"] == endpoint.embedding_model and first["input"][2] == " "
    assert embedder.client.usage.calls == 2


def test_batches_and_empty_input(endpoint, cassette, settings_for, monkeypatch):
    monkeypatch.setattr(embeddings, "BATCH", 2)
    embedder = OpenAIEmbedder(settings_for(endpoint.url, endpoint.key,
                                           embedding_model=endpoint.embedding_model))
    rows = embedder.passages(["a", "b", "c", "d", "e"])
    assert rows.shape[0] == 5
    assert [len(s.json["input"]) for s in cassette.sent] == [2, 2, 1]
    assert embedder.passages([]).shape[0] == 0
