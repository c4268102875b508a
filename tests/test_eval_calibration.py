"""The eval report's decision calibration (ECE, reliability bins) and quote relevance (claims.v1 labels)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from agent.article.quotes import load_quote_map
from agent.types import CORE_DIMENSIONS, Citation, DimensionValue, Profile, Reason, Recommendation
from evals import baselines, metrics, reading_eval, runner
from evals.cases import load_suite
from evals.quote_labels import LABELS, QuoteLabels, judge, shown_citations
from evals.report import write_report

fast = pytest.mark.no_index_seed


def labelled(claim: str) -> dict:
    return next(c for c in yaml.safe_load(LABELS.read_text("utf-8"))["claims"] if c["id"] == claim)


# --------------------------------------------------------------------------- calibration

@fast
@pytest.mark.parametrize("conf, bin_", [(0.0, 0), (0.05, 0), (0.1, 1), (0.3, 3), (0.6, 6), (0.7, 7), (0.79, 7),
                                        (0.8, 8), (0.999, 9), (1.0, 9)])
def test_a_confidence_on_an_edge_goes_to_the_bin_above_and_one_goes_to_the_last(conf, bin_):
    bins = metrics.calibration_bins([conf], [True])
    assert [b["n"] for b in bins].index(1) == bin_
    assert bins[bin_]["lo"] <= conf <= bins[bin_]["hi"]


@fast
def test_ece_is_the_count_weighted_gap_between_accuracy_and_mean_confidence():
    # bin 9: four at 0.95, 2 right (gap 0.45); bin 5: two at 0.55, both right (gap 0.45);
    # bin 2: two at 0.25, none right (gap 0.25)
    confs = [0.95, 0.95, 0.55, 0.55, 0.95, 0.95, 0.25, 0.25]
    right = [True, False, True, True, True, False, False, False]
    cal = metrics.calibration(confs, right)
    assert cal["ece"] == pytest.approx(4 / 8 * 0.45 + 2 / 8 * 0.45 + 2 / 8 * 0.25)
    assert cal["n"] == 8 and cal["accuracy"] == pytest.approx(4 / 8)
    assert cal["confident"] == {"threshold": 0.8, "n": 4, "share": 0.5, "accuracy": 0.5}
    assert sum(b["n"] for b in cal["bins"]) == 8 and cal["bins"][3]["accuracy"] is None


@fast
def test_a_calibrated_set_has_zero_ece_and_no_cases_have_none():
    # 20 cases at 0.5 (half right), 10 at 0.9 (nine right)
    assert metrics.calibration([0.5, 0.5, 0.9] * 10, [True, False, True] * 9 + [True, False, False])["ece"] \
        == pytest.approx(0.0, abs=1e-12)
    assert metrics.calibration([0.5, 0.5], [True, False])["ece"] == 0.0
    empty = metrics.calibration([], [])
    assert empty["ece"] is None and empty["confident"]["share"] is None
    with pytest.raises(ValueError):
        metrics.calibration_bins([0.5], [])


@fast
def test_the_binning_is_stated_in_the_definition():
    text = metrics.DEFINITIONS["decision_calibration"]
    assert "10 equal-width bins" in text and "bin above" in text and "ECE" in text


# --------------------------------------------------------------------------- quote verdicts

@fast
def test_a_quote_is_judged_by_the_labelled_sentence_that_contains_it():
    labels, lab = QuoteLabels(), labelled("external_knowledge.yes")
    good, bad = lab["acceptable"][0], lab["rejected"][0]
    assert labels.verdict("external_knowledge.yes", good) == "acceptable"
    assert labels.verdict("external_knowledge.yes", good[: len(good) // 2]) == "acceptable"  # shortened
    assert labels.verdict("external_knowledge.yes", " ".join(good)) == "acceptable"          # white space aside
    assert labels.verdict("external_knowledge.yes", bad) == "rejected"
    other = next(s for s in labelled("caveat.cost")["acceptable"] if s not in lab["acceptable"])
    assert labels.verdict("external_knowledge.yes", other) == "not_listed"
    assert labels.verdict("external_knowledge.yes", good + "还有别的。") == "not_listed"      # longer than it
    assert labels.verdict("no.such.claim", good) == "unlabelled"
    assert labels.verdict(None, good) == "unlabelled"


@fast
def test_the_transition_sentence_of_issue_10_is_rejected():
    assert QuoteLabels().verdict("external_knowledge.no",
                                 "然而,在深入研究用例之前,我们在选择方法之前还应该考虑几个关键方面:") == "rejected"


def _cite(claim: str) -> Citation:
    spec = load_quote_map().claims[claim]
    return Citation(section_id=spec.section, quote=spec.quote, claim=claim)


def _rec(decision: str, confidence: float, reasons: list[Citation], caveats: list[Citation] = ()) -> Recommendation:
    rationale = [Reason(dimension="external_knowledge", text="", citations=[c]) for c in reasons]
    cav = [Reason(dimension="labeled_data", text="", citations=[c]) for c in caveats]
    profile = Profile(external_knowledge=DimensionValue(value="yes", evidence="", source="stated"))
    return Recommendation(decision=decision, confidence=confidence, profile=profile, rationale=rationale,
                          caveats=cav, citations=[*reasons, *caveats])


@fast
def test_each_shown_citation_counts_once_not_again_from_the_citation_list():
    rec = _rec("rag", 0.9, [_cite("external_knowledge.yes")], [_cite("caveat.cost")])
    assert [c.claim for c in shown_citations(rec)] == ["external_knowledge.yes", "caveat.cost"]
    wrong = Citation(section_id="considerations.recap",
                     quote="然而,在深入研究用例之前,我们在选择方法之前还应该考虑几个关键方面:", claim="external_knowledge.no")
    out = judge(_rec("rag", 0.9, [_cite("external_knowledge.yes"), wrong]), QuoteLabels())
    assert out["quote_verdicts"] == ["acceptable", "rejected"]
    assert out["irrelevant_quotes"] == [{"claim": "external_knowledge.no", "verdict": "rejected",
                                         "section_id": "considerations.recap", "quote": wrong.quote}]
    assert judge(None, QuoteLabels()) == {"quote_verdicts": [], "irrelevant_quotes": []}


@fast
def test_quote_relevance_counts_unlabelled_claims_apart_and_not_as_relevant():
    q = metrics.quote_relevance(["acceptable"] * 6 + ["rejected", "not_listed", "unlabelled", "unlabelled"])
    assert q["n"] == 10 and q["rate"] == 0.6 and q["labelled_rate"] == pytest.approx(6 / 8)
    assert q["rejected_share"] == 0.1 and q["unlabelled_share"] == 0.2
    assert metrics.quote_relevance([])["rate"] is None
    with pytest.raises(ValueError):
        metrics.quote_relevance(["maybe"])


# --------------------------------------------------------------------------- evaluate, report, gate

SUITE = """\
suite: calib.suite.v1
cases:
  - id: en.wiki
    lang: en
    description: A bot over our wiki that changes every week.
    expected: {decision: rag}
  - id: en.style
    lang: en
    description: Write like our brand.
    expected: {decision: fine-tuning}
  - id: en.crash
    lang: en
    description: This one crashes.
    expected: {decision: rag}
"""


class FakeAdvisor:
    """Sure and right on the wiki, sure and wrong on the brand voice (with a transition quote)."""

    engine = SimpleNamespace(name="fake")

    def recommend(self, text, lang=None):
        if "crashes" in text:
            raise RuntimeError("boom")
        if "brand" in text:
            wrong = Citation(section_id="considerations.recap", claim="model_adaptation.yes",
                             quote="然而,在深入研究用例之前,我们在选择方法之前还应该考虑几个关键方面:")
            return _rec("rag", 0.9, [wrong, _cite("question.labeled_data")])
        return _rec("rag", 0.9, [_cite("external_knowledge.yes")], [_cite("caveat.cost")])


def _result(tmp_path: Path) -> dict:
    (tmp_path / "s.yaml").write_text(SUITE, encoding="utf-8")
    return runner.evaluate(FakeAdvisor(), load_suite(tmp_path / "s.yaml"), interviews=False,
                           metamorphic_cases=False, nearest=False)


@fast
def test_evaluate_measures_calibration_and_quote_relevance(tmp_path):
    r = _result(tmp_path)
    cal, q = r["metrics"]["calibration"], r["metrics"]["quote_relevance"]
    assert cal["n"] == 2                                     # the crashed case has no confidence
    assert cal["ece"] == pytest.approx(0.4) and cal["bins"][9]["accuracy"] == 0.5
    assert q["counts"] == {"acceptable": 2, "rejected": 0, "not_listed": 1, "unlabelled": 1}
    assert q["rate"] == 0.5 and q["labels"] == "claims.v1"
    assert [c["confidence"] for c in r["cases"]] == [0.9, 0.9, None]


@fast
def test_the_report_shows_calibration_quote_relevance_and_the_reliability_diagram(tmp_path):
    r = _result(tmp_path)
    names = {p.name for p in write_report(r, baselines.compare(r, None), tmp_path / "rep")}
    assert "reliability.png" in names and (tmp_path / "rep" / "reliability.png").stat().st_size > 1000
    md = (tmp_path / "rep" / "report.md").read_text("utf-8")
    assert "## Decision calibration" in md and "expected calibration error 0.400" in md
    assert "| 0.9–1.0 | 2 | 0.900 | 50.0% | -40.0 pts |" in md
    assert "## Quote relevance" in md and "rate 50.0%" in md and "`question.labeled_data`" in md
    assert "quote relevance rate" in md and "decision_calibration" in md


def _gated(rate: float, rejected: float) -> dict:
    return {"suite": "s.v1", "engine": "offline", "n_cases": 1, "baselines": {}, "cases": [],
            "metrics": {"citation_validity": 1.0, "interview": {"max_questions": 1},
                        "quote_relevance": {"rate": rate, "rejected_share": rejected}}}


@fast
def test_the_gate_fails_on_any_drop_in_quote_relevance_or_rise_in_rejected_quotes(tmp_path):
    saved = tmp_path / "base.json"
    baselines.save(_gated(0.95, 0.0), saved)
    assert runner.gate(_gated(0.95, 0.0), saved)[0] == 0
    assert runner.gate(_gated(1.0, 0.0), saved)[0] == 0
    for worse, metric in [(_gated(0.94, 0.0), "quote_relevance.rate"),
                          (_gated(0.95, 0.01), "quote_relevance.rejected_share")]:
        code, checks = runner.gate(worse, saved)
        assert code == runner.EXIT_REGRESSION
        assert [c.metric for c in checks if not c.ok] == [metric]


# --------------------------------------------------------------------------- the reading eval

@fast
def test_the_reading_eval_reports_ece_and_draws_counts(tmp_path):
    def row(conf, right):
        return {"id": "x", "lang": "en", "group": "g", "want": "rag", "got": "rag" if right else "hybrid",
                "confidence": conf, "dims_wrong": {}, "dim_ok": {d: True for d in CORE_DIMENSIONS}}

    res = reading_eval.summarise([row(0.9, True), row(0.9, False), row(0.3, False)], 1.0)
    assert res["ece"] == pytest.approx(2 / 3 * 0.4 + 1 / 3 * 0.3, abs=1e-4)  # rounded to 4 places
    assert "| ECE |" in reading_eval.table({"s": res})
    reading_eval.reliability_png({"s": res}, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000
