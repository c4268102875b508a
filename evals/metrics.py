"""Metric functions: plain inputs in, numbers out (no advisor, no I/O).

Every metric the report shows is defined in DEFINITIONS, and the report prints those texts.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Optional, Sequence

from agent.types import ALL_DIMENSIONS, DECISIONS, Profile

DEFINITIONS: dict[str, str] = {
    "decision_accuracy": "Share of cases whose one-shot decision equals expected.decision.",
    "confusion_matrix": "Rows: expected decision; columns: the advisor's decision; cells: case counts.",
    "dimension_accuracy": (
        "Per dimension, over the cases whose expected.profile lists it: share where the value the "
        "advisor read from the text equals the expected one. A value the advisor only assumed "
        "(source `assumed`) counts as `unknown`: extraction is about what the text says. "
        "`extraction accuracy` is the same over all (case, dimension) pairs."),
    "citation_validity": (
        "Share of all citations shown (rationale, caveats and the citation list) whose quote is a "
        "verbatim span of its section, white space aside (QuoteChecker.is_verbatim(quote, "
        "section_id)). Must be 1.0."),
    "citation_recall": (
        "ALCE-style, per case with a non-empty must_cite, then averaged: share of must_cite "
        "section ids that appear among the section ids the recommendation cites."),
    "citation_precision": (
        "Per case with a non-empty must_cite and at least one citation, then averaged: share of "
        "the distinct cited section ids that are relevant, i.e. in must_cite or the direct parent "
        "or a direct child of a must_cite id in knowledge/sections.yaml."),
    "metamorphic_pass_rate": (
        "Variants made by appending one decisive sentence (in the case's language) to cases the "
        "advisor already decides correctly and whose description does not settle that dimension; "
        "a variant passes when the new decision is exactly the one the article's rules give "
        "(the transform's table), i.e. it moves when it should and holds when it should."),
    "interview": (
        "A simulated user who knows expected.profile and facts answers only the question asked. "
        "Started (a) from the case description and (b) empty. questions = questions asked until "
        "the recommendation; agreement = share whose final decision equals the one-shot decision "
        "on the full description (cases expected `undecided` excluded: off-topic or contradictory "
        "text cannot be reproduced by answers); max must never exceed 8."),
    "latency": "Wall time of one one-shot recommend call per case, after a warm-up call; nearest-rank p50/p95.",
    "llm_usage": "Model calls and prompt+completion tokens per one-shot case, read from the engine's `usage` (0 offline).",
    "baselines": (
        "majority: always the suite's most frequent expected decision; always-rag: the article's "
        "earlier advice; nearest-use-case: the article use case (summarisation -> fine-tuning, "
        "organisational Q&A -> rag, customer support -> hybrid) whose section text or English "
        "summary is most similar to the description under the local e5 embeddings. Margin = "
        "advisor accuracy minus baseline accuracy."),
}


def ratio(num: float, den: float) -> Optional[float]:
    return None if den == 0 else num / den


def mean(values: Iterable[float]) -> Optional[float]:
    vals = [v for v in values if v is not None]
    return None if not vals else sum(vals) / len(vals)


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Share of positions where pred equals gold (0.0 for no cases)."""
    if len(gold) != len(pred):
        raise ValueError("gold and pred differ in length")
    return 0.0 if not gold else sum(g == p for g, p in zip(gold, pred)) / len(gold)


def confusion_matrix(gold: Sequence[str], pred: Sequence[str],
                     labels: Sequence[str] = DECISIONS) -> list[list[int]]:
    """matrix[i][j] = number of cases expected labels[i] and decided labels[j]."""
    index = {label: i for i, label in enumerate(labels)}
    m = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, pred):
        m[index[g]][index[p]] += 1
    return m


def per_class(matrix: Sequence[Sequence[int]], labels: Sequence[str] = DECISIONS) -> dict[str, dict]:
    """Support, precision and recall per decision from a confusion matrix."""
    out = {}
    for i, label in enumerate(labels):
        support = sum(matrix[i])
        predicted = sum(row[i] for row in matrix)
        out[label] = {"support": support, "predicted": predicted,
                      "precision": ratio(matrix[i][i], predicted), "recall": ratio(matrix[i][i], support)}
    return out


def read_values(profile: Profile) -> dict[str, str]:
    """Every dimension's value as read from the text: assumed values count as unknown."""
    data = profile.model_dump()
    return {d: ("unknown" if v["source"] == "assumed" else v["value"]) for d, v in data.items()}


def dimension_accuracy(pairs: Iterable[tuple[Mapping[str, str], Mapping[str, str]]]) -> dict[str, dict]:
    """{dim: {correct, n, accuracy}} over (expected profile, read values) pairs, dims in expected only."""
    tally: dict[str, list[int]] = {}
    for expected, got in pairs:
        for dim, value in expected.items():
            t = tally.setdefault(dim, [0, 0])
            t[0] += got.get(dim, "unknown") == value
            t[1] += 1
    order = {d: i for i, d in enumerate(ALL_DIMENSIONS)}
    return {d: {"correct": c, "n": n, "accuracy": c / n}
            for d, (c, n) in sorted(tally.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))}


def pooled_accuracy(per_dim: Mapping[str, Mapping]) -> Optional[float]:
    """Micro average of a dimension_accuracy result."""
    return ratio(sum(v["correct"] for v in per_dim.values()), sum(v["n"] for v in per_dim.values()))


def relevant(section_id: str, must_cite: Iterable[str], parents: Mapping[str, Optional[str]]) -> bool:
    """In must_cite, or the direct parent or a direct child of a must_cite id."""
    for m in must_cite:
        if section_id == m or parents.get(m) == section_id or parents.get(section_id) == m:
            return True
    return False


def citation_precision_recall(cited: Iterable[str], must_cite: Sequence[str],
                              parents: Mapping[str, Optional[str]]) -> tuple[Optional[float], Optional[float]]:
    """(precision, recall) of one case's cited section ids against must_cite; None when undefined."""
    cited = set(cited)
    if not must_cite:
        return None, None
    recall = sum(m in cited for m in set(must_cite)) / len(set(must_cite))
    precision = ratio(sum(relevant(c, must_cite, parents) for c in cited), len(cited))
    return precision, recall


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """Nearest-rank percentile (q in 0..100) of values; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
