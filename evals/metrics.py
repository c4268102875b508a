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


# --------------------------------------------------------------------------- decision calibration, quote relevance
# (kept together at the end so other metrics can be added above without touching these)

CALIBRATION_BINS = 10
CONFIDENT = 0.8
QUOTE_VERDICTS = ("acceptable", "rejected", "not_listed", "unlabelled")

DEFINITIONS.update({
    "decision_calibration": (
        "Over the one-shot cases that returned a recommendation: its `confidence` (the stated "
        "probability that the decision is right) against whether decision == expected.decision. "
        f"Bins: {CALIBRATION_BINS} equal-width bins of confidence, [0, 0.1), [0.1, 0.2), …, [0.9, 1.0] "
        "(the last closed; a confidence on an edge goes to the bin above). ECE (expected "
        "calibration error) = sum over non-empty bins of (cases in bin / all cases) × |accuracy in "
        "bin − mean confidence in bin|; 0 is perfectly calibrated. The reliability diagram plots each "
        f"bin's accuracy against its mean confidence, with its count. `confidence ≥ {CONFIDENT}`: the "
        "share of cases stated at least that sure, and the accuracy among them."),
    "quote_relevance": (
        "Over every citation shown in the one-shot recommendations (reasons and caveats; the "
        "recommendation's `citations` list only repeats them and is not counted again), judged "
        "against evals/quotes/claims.v1.yaml for the citation's `claim`: `acceptable` when the quote, "
        "white space aside, lies within one of the claim's acceptable sentences (a shortened quote "
        "counts as its sentence), `rejected` when it lies within a rejected one (checked first), "
        "`not listed` when the claim is labelled but the quote is in neither (acceptable is "
        "exhaustive, so not relevant), `unlabelled` when the citation has no claim or its claim is not "
        "in the labelled set. Quote relevance rate = acceptable / all citations shown (unlabelled "
        "ones are not counted as relevant); the rate on the labelled set = acceptable / (all − "
        "unlabelled). The gate fails on any drop of the rate."),
})


def _bin_of(confidence: float, n_bins: int) -> int:
    # The small epsilon keeps 0.3 * 10 == 2.9999… out of the bin below its edge.
    return min(n_bins - 1, max(0, math.floor(confidence * n_bins + 1e-9)))


def calibration_bins(confidences: Sequence[float], correct: Sequence[bool],
                     n_bins: int = CALIBRATION_BINS) -> list[dict]:
    """Equal-width confidence bins over [0, 1]: each bin's range, count, mean confidence and accuracy."""
    if len(confidences) != len(correct):
        raise ValueError("confidences and correct differ in length")
    members: list[list[tuple[float, bool]]] = [[] for _ in range(n_bins)]
    for conf, ok in zip(confidences, correct):
        members[_bin_of(conf, n_bins)].append((conf, bool(ok)))
    return [{"lo": round(i / n_bins, 4), "hi": round((i + 1) / n_bins, 4), "n": len(m),
             "confidence": mean(c for c, _ in m), "accuracy": ratio(sum(ok for _, ok in m), len(m))}
            for i, m in enumerate(members)]


def expected_calibration_error(bins: Sequence[Mapping]) -> Optional[float]:
    """ECE of calibration_bins output: count-weighted mean |accuracy - mean confidence|; None for no cases."""
    total = sum(b["n"] for b in bins)
    if total == 0:
        return None
    return sum(b["n"] / total * abs(b["accuracy"] - b["confidence"]) for b in bins if b["n"])


def calibration(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = CALIBRATION_BINS,
                threshold: float = CONFIDENT) -> dict:
    """ECE, the reliability bins, and the share (and accuracy) of cases at confidence >= threshold."""
    bins = calibration_bins(confidences, correct, n_bins)
    sure = [ok for conf, ok in zip(confidences, correct) if conf >= threshold - 1e-9]
    n = len(confidences)
    return {"n": n, "bins_count": n_bins, "ece": expected_calibration_error(bins),
            "mean_confidence": mean(confidences), "accuracy": ratio(sum(map(bool, correct)), n),
            "confident": {"threshold": threshold, "n": len(sure), "share": ratio(len(sure), n),
                          "accuracy": ratio(sum(sure), len(sure))},
            "bins": bins}


def quote_relevance(verdicts: Iterable[str]) -> dict:
    """Counts and shares of quote verdicts (QUOTE_VERDICTS); `rate` = acceptable / all."""
    counts = {v: 0 for v in QUOTE_VERDICTS}
    for v in verdicts:
        if v not in counts:
            raise ValueError(f"unknown quote verdict {v!r}")
        counts[v] += 1
    n = sum(counts.values())
    labelled = n - counts["unlabelled"]
    return {"n": n, "counts": counts, "rate": ratio(counts["acceptable"], n),
            "labelled_rate": ratio(counts["acceptable"], labelled),
            "rejected_share": ratio(counts["rejected"], n), "not_listed_share": ratio(counts["not_listed"], n),
            "unlabelled_share": ratio(counts["unlabelled"], n)}
