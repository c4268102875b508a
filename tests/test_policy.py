"""The article's framework as code: outcomes from hand-built profiles, no extractor involved."""
from __future__ import annotations

import itertools

import pytest

from agent.deciding.policy import QUESTION_ORDER, decide, swing_dimensions
from agent.types import CORE_DIMENSIONS, DECISIONS, DimensionValue, Profile

pytestmark = pytest.mark.no_index_seed


def profile(source: str = "stated", **values: str) -> Profile:
    """A profile with these core values, each with evidence and the given source."""
    return Profile(**{dim: DimensionValue(value=v, evidence=f"({dim}: {v})", source=source)
                      for dim, v in values.items()})


def with_answer(p: Profile, dim: str, value: str) -> Profile:
    q = p.model_copy(deep=True)
    setattr(q, dim, DimensionValue(value=value, evidence="an answer", source="stated"))
    return q


# ----------------------------------------------------------------------------- four outcomes

@pytest.mark.parametrize("values, decision", [
    ({"external_knowledge": "yes", "model_adaptation": "no"}, "rag"),
    ({"external_knowledge": "no", "model_adaptation": "yes", "labeled_data": "yes"}, "fine-tuning"),
    ({"external_knowledge": "yes", "model_adaptation": "yes", "labeled_data": "yes"}, "hybrid"),
    ({"external_knowledge": "no", "model_adaptation": "no"}, "prompting"),
])
def test_the_four_outcomes(values, decision):
    out = decide(profile(**values))
    assert out.decision == decision
    assert out.knowledge == (decision in ("rag", "hybrid"))
    assert out.behaviour == (decision in ("fine-tuning", "hybrid"))
    assert {"external_knowledge", "model_adaptation"} <= set(out.decided_by)
    assert out.swing == [] and 0.5 < out.confidence <= 0.95


def test_every_full_profile_gets_a_decision_consistent_with_the_axes():
    """All 64 stated yes/no profiles: the decision follows the two axes and feasibility."""
    for combo in itertools.product(("yes", "no"), repeat=len(CORE_DIMENSIONS)):
        p = profile(**dict(zip(CORE_DIMENSIONS, combo)))
        v = dict(zip(CORE_DIMENSIONS, combo))
        out = decide(p)
        knowledge = v["external_knowledge"] == "yes"
        behaviour = v["model_adaptation"] == "yes" and v["labeled_data"] == "yes"
        expected = {(True, True): "hybrid", (True, False): "rag",
                    (False, True): "fine-tuning", (False, False): "prompting"}[(knowledge, behaviour)]
        assert out.decision == expected, v
        assert out.swing == [], "nothing is open"


# ----------------------------------------------------------------------------- feasibility

@pytest.mark.parametrize("ek, decision", [("no", "prompting"), ("yes", "rag"), (None, "prompting")])
def test_behaviour_without_labelled_data_is_not_fine_tuning(ek, decision):
    values = {"model_adaptation": "yes", "labeled_data": "no"}
    if ek:
        values["external_knowledge"] = ek
    out = decide(profile(**values))
    assert out.decision == decision and out.decision not in ("fine-tuning", "hybrid")
    assert out.behaviour and out.fine_tuning_blocked and "labeled_data" in out.decided_by


def test_behaviour_with_labelled_data_unknown_is_still_fine_tuning_but_labels_could_swing_it():
    out = decide(profile(external_knowledge="no", model_adaptation="yes"))
    assert out.decision == "fine-tuning" and not out.fine_tuning_blocked
    assert "labeled_data" in out.swing


# ----------------------------------------------------------------------------- knowledge signals

@pytest.mark.parametrize("signal", ["data_dynamics", "transparency", "hallucination_critical"])
def test_a_stated_knowledge_signal_puts_the_app_on_the_knowledge_axis(signal):
    out = decide(profile(**{signal: "yes", "model_adaptation": "no"}))
    assert out.decision == "rag" and signal in out.decided_by


@pytest.mark.parametrize("signal", ["data_dynamics", "transparency", "hallucination_critical"])
def test_stated_no_external_knowledge_blocks_the_signals(signal):
    out = decide(profile(**{signal: "yes", "external_knowledge": "no", "model_adaptation": "no"}))
    assert out.decision == "prompting" and not out.knowledge


def test_assumed_no_external_knowledge_does_not_block_a_signal():
    p = profile(data_dynamics="yes", model_adaptation="no")
    p.external_knowledge = DimensionValue(value="no", evidence="", source="assumed")
    assert decide(p).decision == "rag"


def test_an_inferred_hint_of_hallucination_risk_is_not_a_need_for_grounding():
    p = profile(model_adaptation="no")
    p.hallucination_critical = DimensionValue(value="yes", evidence="medical", source="inferred")
    assert decide(p).decision == "prompting"
    p.hallucination_critical.source = "stated"
    assert decide(p).decision == "rag"


def test_signals_with_behaviour_make_a_hybrid():
    out = decide(profile(data_dynamics="yes", model_adaptation="yes", labeled_data="yes"))
    assert out.decision == "hybrid"


# ----------------------------------------------------------------------------- undecided

def test_off_topic_with_nothing_known_is_undecided():
    out = decide(Profile(), on_topic=False)
    assert out.decision == "undecided" and out.confidence < 0.3
    assert out.swing[:2] == ["external_knowledge", "model_adaptation"]


def test_on_topic_with_nothing_known_is_undecided():
    """docs/reading-labels.md: a vague "which approach?" with no facts decides nothing."""
    out = decide(Profile(), on_topic=True)
    assert out.decision == "undecided" and out.confidence <= 0.35
    assert {"external_knowledge", "model_adaptation"} <= set(out.swing)


@pytest.mark.parametrize("values, clash", [
    ({"external_knowledge": "yes", "model_adaptation": "no"}, "external_knowledge"),
    ({"external_knowledge": "yes", "model_adaptation": "yes", "labeled_data": "yes"}, "model_adaptation"),
    ({"external_knowledge": "no", "model_adaptation": "yes", "labeled_data": "yes"}, "labeled_data"),
])
def test_a_contradiction_on_a_deciding_dimension_is_undecided(values, clash):
    out = decide(profile(**values), contradictions=[clash])
    assert out.decision == "undecided" and out.contradictions == [clash] and out.confidence < 0.3


def test_a_contradiction_that_cannot_change_the_outcome_is_noted_not_decisive():
    values = {"external_knowledge": "yes", "model_adaptation": "no"}
    out = decide(profile(**values), contradictions=["transparency"])
    assert out.decision == "rag" and out.contradictions == ["transparency"]
    # and an aspect is never a deciding dimension
    assert decide(profile(**values), contradictions=["latency"]).decision == "rag"


# ----------------------------------------------------------------------------- swing dimensions

def _partial_profiles():
    """Every profile with each core dimension yes, no or unknown (729 of them)."""
    for combo in itertools.product(("yes", "no", None), repeat=len(CORE_DIMENSIONS)):
        yield profile(**{d: v for d, v in zip(CORE_DIMENSIONS, combo) if v})


def test_swing_dimensions_are_exactly_the_answers_that_change_the_outcome():
    checked = 0
    for p in _partial_profiles():
        open_dims = [d for d in CORE_DIMENSIONS if p.get(d).value == "unknown"]
        if len(open_dims) == len(CORE_DIMENSIONS):
            continue  # nothing known is undecided; any answer decides (tested below)
        base = decide(p).decision
        swing = swing_dimensions(p, open_dims)
        for dim in open_dims:
            moves = any(decide(with_answer(p, dim, v)).decision != base for v in ("yes", "no"))
            assert (dim in swing) == moves, (dim, {d: p.get(d).value for d in CORE_DIMENSIONS}, swing)
        assert swing == [d for d in QUESTION_ORDER if d in swing], "in asking order"
        checked += len(open_dims)
    assert checked > 1000


def test_nothing_known_is_undecided_and_any_answer_decides():
    p = profile()
    assert decide(p).decision == "undecided"
    assert decide(profile(labeled_data="yes")).decision == "prompting"
    assert decide(profile(external_knowledge="yes")).decision == "rag"


def test_swing_lists_only_open_dimensions():
    p = profile(external_knowledge="yes")
    assert "external_knowledge" not in swing_dimensions(p, ["model_adaptation", "labeled_data"])
    assert swing_dimensions(p, []) == []


def test_hallucination_risk_is_worth_asking_when_it_would_tip_the_balance():
    """A stated 'yes, made-up answers would hurt' puts the app on the knowledge axis."""
    p = profile(model_adaptation="yes", labeled_data="yes")
    assert decide(p).decision == "fine-tuning"
    swing = swing_dimensions(p, ["external_knowledge", "hallucination_critical", "data_dynamics", "transparency"])
    assert swing == ["external_knowledge", "data_dynamics", "hallucination_critical", "transparency"]


def test_confidence_falls_as_more_could_change_the_outcome():
    settled = decide(profile(external_knowledge="yes", model_adaptation="no"))
    open_ = decide(profile(external_knowledge="yes"))
    assert open_.decision == settled.decision == "rag"
    assert open_.swing and open_.confidence < settled.confidence


# ----------------------------------------------------------------------------- the article's use cases

USE_CASES = {
    # specialised-style summarisation: the text is given, style matters, many past summaries
    "summarisation": ({"external_knowledge": "no", "model_adaptation": "yes", "hallucination_critical": "no",
                       "labeled_data": "yes", "data_dynamics": "no", "transparency": "no"}, "fine-tuning"),
    # Q&A over organisational knowledge: internal documents, changing, traceable, mostly unlabelled
    "org-qa": ({"external_knowledge": "yes", "model_adaptation": "no", "hallucination_critical": "yes",
                "labeled_data": "no", "data_dynamics": "yes", "transparency": "yes"}, "rag"),
    # customer-support automation: brand voice, product data, a history of conversations
    "customer-support": ({"external_knowledge": "yes", "model_adaptation": "yes", "hallucination_critical": "yes",
                          "labeled_data": "yes", "data_dynamics": "yes", "transparency": "no"}, "hybrid"),
}


@pytest.mark.parametrize("name", USE_CASES)
def test_the_articles_use_cases(name):
    values, decision = USE_CASES[name]
    out = decide(profile(**values))
    assert out.decision == decision and out.confidence >= 0.7
    assert out.decision in DECISIONS
