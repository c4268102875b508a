"""Each precise rule of reading is tested by its own examples, plus the clause cutter's promises."""
import pytest

from agent.reading import rules
from agent.reading.clauses import MAX_CHARS, clauses

APPLY = {"R-COUNT": rules.labelled_count, "R-PERIOD": rules.dynamics_value,
         "R-INSTR": rules.is_instruction, "R-ANSWER": rules.bare_answer}


def test_every_rule_has_an_applier_and_examples():
    assert {r.id for r in rules.RULES} == set(APPLY)
    for r in rules.RULES:
        assert len(r.examples) >= 5, r.id
        # every rule has examples on both sides of what it settles
        assert len({repr(want) for _, want in r.examples}) >= 2, r.id


@pytest.mark.parametrize("rule_id,text,want", [(r.id, x, w) for r in rules.RULES for x, w in r.examples])
def test_rule_examples(rule_id, text, want):
    assert APPLY[rule_id](text) == want


def test_clauses_keep_offsets_verbatim():
    text = "We run a store, and customers ask about delivery; answers must come from our policy.\n- docs change weekly"
    spans = clauses(text)
    assert len(spans) >= 4
    for s in spans:
        assert text[s.start:s.end] == s.text
    assert spans[-1].text == "docs change weekly"


def test_clauses_chinese_and_short_pieces_merge():
    spans = clauses("好的，我们要做一个客服机器人，答案来自产品手册。")
    assert [s.text for s in spans][0].startswith("好的")  # "好的，" is too short to stand alone
    assert any("产品手册" in s.text for s in spans)


def test_reading_is_linear_in_length():
    text = "We have 3000 labelled tickets " * 3300  # ~99,000 characters with no punctuation
    spans = clauses(text)
    assert all(len(s.text) <= MAX_CHARS for s in spans)
    assert sum(len(s.text) for s in spans) >= len(text.strip()) - len(spans)


def test_negated_period_and_count():
    assert rules.dynamics_value("our schedule hardly ever changes, not even monthly") == "no"
    assert rules.change_period("prices change every hour") == (1 / 24, False)


def test_answer_rest_strips_the_opening_word():
    assert rules.answer_rest("Yes, every week") == "every week"
    assert rules.answer_rest("是的，每周都会更新") == "每周都会更新"
