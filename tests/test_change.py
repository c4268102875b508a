"""What would change it (agent/deciding/change.py): the smallest changes in the facts that flip the policy."""
from __future__ import annotations

import itertools

import pytest

from agent.deciding.change import what_would_change
from agent.deciding.policy import QUESTION_ORDER, decide
from agent.types import DimensionValue, Profile


def profile(**values) -> Profile:
    p = Profile()
    for dim, v in values.items():
        setattr(p, dim, DimensionValue(value=v, evidence="", source="stated"))
    return p


def test_documents_that_stop_changing_turn_a_styled_snapshot_into_fine_tuning():
    p = profile(model_adaptation="yes", labeled_data="yes", data_dynamics="yes")
    assert decide(p).decision == "hybrid"
    flips = {f.decision: f.changes for f in what_would_change(p)}
    assert flips["fine-tuning"] == {"data_dynamics": "no"}
    assert "hybrid" not in flips


def test_thin_data_flips_to_fine_tuning_when_the_examples_are_there():
    p = profile(model_adaptation="yes", labeled_data="no")
    flips = {f.decision: f.changes for f in what_would_change(p)}
    assert flips == {"fine-tuning": {"labeled_data": "yes"}, "rag": {"external_knowledge": "yes"},
                     "hybrid": {"external_knowledge": "yes", "labeled_data": "yes"}}


@pytest.mark.parametrize("values", list(itertools.product(("yes", "no", "unknown"), repeat=4)))
def test_each_flip_reaches_its_decision_and_none_is_larger_than_it_must_be(values):
    dims = ("external_knowledge", "model_adaptation", "labeled_data", "data_dynamics")
    p = profile(**{d: v for d, v in zip(dims, values) if v != "unknown"})
    base = decide(p).decision
    for flip in what_would_change(p):
        assert flip.decision != base
        q = p.model_copy(deep=True)
        for dim, v in flip.changes.items():
            assert dim in QUESTION_ORDER and v != p.get(dim).value or p.get(dim).value == "unknown"
            setattr(q, dim, DimensionValue(value=v, evidence="", source="stated"))
        assert decide(q).decision == flip.decision
        # minimal: no single one of its changes reaches that decision alone
        if len(flip.changes) > 1:
            for dim, v in flip.changes.items():
                r = p.model_copy(deep=True)
                setattr(r, dim, DimensionValue(value=v, evidence="", source="stated"))
                assert decide(r).decision != flip.decision
