"""Each reason quotes the sentence that states it: the quote map against the article and against
an independently labelled set of acceptable sentences per claim (evals/quotes/claims.v1.yaml)."""
from __future__ import annotations

import pytest

from agent.article.quotes import Q_STRUCT, check_quote_map, is_structural, load_quote_map
from agent.article.source import load_article
from agent.types import CORE_DIMENSIONS, QuoteMap, QuoteSpec
from agent.wording import wording
from evals.quote_labels import QuoteLabels


def claims_the_advisor_can_make() -> set[str]:
    w = wording()
    out = {f"{dim}.{value}" for dim, values in w.reasons.items() for value in values}
    out |= {f"caveat.{key}" for key in w.caveats}
    out |= {"use_case." + sid.split(".")[1].replace("-", "_") for sid in w.use_cases}
    out |= {"prompting.neither"} | {f"question.{dim}" for dim in CORE_DIMENSIONS}
    return out


@pytest.mark.parametrize("sentence,expected", Q_STRUCT.examples)
def test_q_struct_examples(sentence, expected):
    assert is_structural(sentence) is expected


def test_every_quote_is_a_verbatim_statement_of_its_section():
    assert check_quote_map(load_quote_map(), load_article()) == []


def test_the_check_catches_a_transition_and_a_retyped_quote():
    bad = QuoteMap(claims={
        "a": QuoteSpec(section="considerations.recap", quote="然而,在深入研究用例之前,我们在选择方法之前还应该考虑几个关键方面:"),
        "b": QuoteSpec(section="considerations.recap", quote="有趣的是，在我看来，它们是正交的。"),  # full-width commas
        "c": QuoteSpec(section="no.such.section", quote="微调可能会变得昂贵"),
    })
    problems = check_quote_map(bad, load_article())
    assert any(p.startswith("a: Q-STRUCT") for p in problems)
    assert any(p.startswith("b: the quote is not a verbatim") for p in problems)
    assert any(p.startswith("c: unknown section") for p in problems)


def test_every_claim_the_advisor_can_make_has_a_quote():
    missing = claims_the_advisor_can_make() - set(load_quote_map().claims)
    assert not missing


def test_each_quote_is_one_the_labeller_accepted():
    """The quote relevance rate on the labelled set must stay 100% (a quote shortened at a clause
    boundary counts as its sentence)."""
    labels, quotes = QuoteLabels(), load_quote_map().claims
    judged = {cid: labels.verdict(cid, spec.quote) for cid, spec in quotes.items() if cid in labels.claims}
    assert len(judged) >= 30
    wrong = {cid: v for cid, v in judged.items() if v != "acceptable"}
    assert not wrong, wrong


def test_a_wrong_quote_would_be_caught():
    labels = QuoteLabels()
    transition = "然而,在深入研究用例之前,我们在选择方法之前还应该考虑几个关键方面:"
    assert labels.verdict("external_knowledge.no", transition) == "rejected"
    assert labels.verdict("caveat.latency", "微调可能会变得昂贵,尤其是对于非常大的模型。") == "not_listed"
