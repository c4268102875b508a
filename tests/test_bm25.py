"""The numpy BM25 that replaced bm25s: Lucene's formulas, checked by hand on a tiny corpus."""
import math

import numpy as np

from agent.article.bm25 import B, BM25, K1

DOCS = [["rag", "docs", "docs", "change"], ["fine", "tune", "style"], ["rag", "style"], []]


def by_hand(doc: list[str], query: list[str]) -> float:
    n, avg = len(DOCS), sum(map(len, DOCS)) / len(DOCS)
    score = 0.0
    for tok in query:
        df = sum(tok in d for d in DOCS)
        if df == 0:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        tf = doc.count(tok)
        score += idf * tf / (tf + K1 * (1 - B + B * len(doc) / avg))
    return score


def test_scores_are_lucene_bm25_computed_by_hand():
    bm = BM25(DOCS)
    for query in (["rag"], ["docs"], ["rag", "style"], ["style", "style"], ["change", "tune", "rag"]):
        got = bm.get_scores(query)
        assert got.dtype == np.float32 and got.shape == (len(DOCS),)
        assert np.allclose(got, [by_hand(d, query) for d in DOCS], atol=1e-6), query


def test_a_repeated_query_token_counts_twice_and_unknown_tokens_add_nothing():
    bm = BM25(DOCS)
    assert np.allclose(bm.get_scores(["rag", "rag"]), 2 * bm.get_scores(["rag"]))
    assert np.allclose(bm.get_scores(["rag", "nowhere"]), bm.get_scores(["rag"]))
    assert not bm.get_scores(["nowhere"]).any()
    assert set(bm.vocab) == {t for d in DOCS for t in d}


def test_the_rarer_term_and_the_shorter_document_score_higher():
    bm = BM25(DOCS)
    rag = bm.get_scores(["rag"])
    assert rag[2] > rag[0] > 0  # same tf, shorter document
    assert bm.get_scores(["change"])[0] > rag[0]  # one document has it: a higher idf


def test_a_saved_table_loads_only_for_its_own_key_and_scores_the_same(tmp_path):
    bm, path = BM25(DOCS), tmp_path / "bm25.npz"
    bm.save(path, "key-1")
    again = BM25.load(path, "key-1")
    assert again is not None and again.vocab == bm.vocab
    for query in (["rag"], ["style", "docs", "nowhere"]):
        assert np.array_equal(again.get_scores(query), bm.get_scores(query))
    assert BM25.load(path, "key-2") is None  # other docs, tokenizer or formulas: rebuilt
    path.write_bytes(b"damaged")
    assert BM25.load(path, "key-1") is None


def test_the_index_folder_keeps_the_table_and_a_second_open_searches_alike(clean_env):
    from agent.api import Advisor
    from agent.article.retrieval import BM25_FILE

    first = Advisor(engine="offline")
    got = first.search("does my data change often?").model_dump()
    assert (first.index.data.path / BM25_FILE).exists()
    assert Advisor(engine="offline").search("does my data change often?").model_dump() == got
