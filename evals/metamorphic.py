"""Metamorphic cases: flip one decisive fact of a golden case and predict the new decision.

Each transform appends one sentence, in the case's language, that settles one dimension.
It applies only to descriptions that do not already settle that dimension (the dimension
is not in expected.profile; the flipped fact may contradict the case's interview `facts`:
that is the flip) and, where the article's rules say another fact would cancel it, only
when the description does not settle that fact (e.g. a knowledge signal does not count
when the text says outright that no external knowledge is involved). Both judgements
rest on the golden labels (expected.profile), never on what the advisor read. The expected new decision is
an explicit table from the original decision, covering all four decisions, so a variant
checks both that the decision moves when it should and that it holds when it should.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

from agent.types import GoldenCase

# The article's knowledge axis: a stated need for fresh data, traceable answers or
# suppressed hallucination means retrieval; behaviour stays as it was.
ADD_KNOWLEDGE = {"prompting": "rag", "fine-tuning": "hybrid", "rag": "rag", "hybrid": "hybrid"}
# "If there is no training data, fine-tuning is simply impossible."
NO_TRAINING_DATA = {"fine-tuning": "prompting", "hybrid": "rag", "rag": "rag", "prompting": "prompting"}
# A style/behaviour need is the behaviour axis: fine-tuning, with or without retrieval.
ADD_BEHAVIOUR = {"rag": "hybrid", "prompting": "fine-tuning", "fine-tuning": "fine-tuning", "hybrid": "hybrid"}
# Labelled data makes fine-tuning feasible but is not a need for it: nothing moves.
UNCHANGED = {"rag": "rag", "prompting": "prompting", "fine-tuning": "fine-tuning", "hybrid": "hybrid"}


@dataclass(frozen=True)
class Transform:
    """Append `sentence[lang]` (settling `dimension` = `value`); expect `table[old decision]`."""

    id: str
    dimension: str
    value: str
    sentence: Mapping[str, str]
    table: Mapping[str, str]
    # Not applicable when expected.profile (what the description settles) has any of these
    # (dimension, value) pairs: the rule behind the table would not hold.
    unless: tuple[tuple[str, str], ...] = field(default=())

    def applies(self, case: GoldenCase) -> bool:
        profile = case.expected.profile
        if self.dimension in profile or case.expected.decision not in self.table:
            return False
        return not any(profile.get(dim) == value for dim, value in self.unless)

    def apply(self, description: str, lang: str) -> str:
        text = description.rstrip()
        if lang == "zh":
            if text and text[-1] not in "。！？!?.…":
                text += "。"
            return text + self.sentence["zh"]
        if text and text[-1] not in ".!?…":
            text += "."
        return text + " " + self.sentence["en"]


TRANSFORMS: tuple[Transform, ...] = (
    Transform("daily-data", "data_dynamics", "yes",
              {"en": "The underlying data changes every day.", "zh": "这些数据每天都会更新。"},
              ADD_KNOWLEDGE, unless=(("external_knowledge", "no"),)),
    Transform("cite-sources", "transparency", "yes",
              {"en": "Answers must cite their sources.", "zh": "回答必须注明出处。"},
              ADD_KNOWLEDGE, unless=(("external_knowledge", "no"),)),
    Transform("no-hallucinations", "hallucination_critical", "yes",
              {"en": "A made-up answer would cause real harm, so hallucinations are unacceptable.",
               "zh": "编造的答案会造成实际危害，绝不能出现幻觉。"},
              ADD_KNOWLEDGE, unless=(("external_knowledge", "no"),)),
    Transform("no-labels", "labeled_data", "no",
              {"en": "We have no labelled examples at all.", "zh": "我们完全没有标注数据。"},
              NO_TRAINING_DATA),
    Transform("brand-voice", "model_adaptation", "yes",
              {"en": "It must write in our brand's distinctive voice.", "zh": "输出必须符合我们品牌独特的语气。"},
              ADD_BEHAVIOUR, unless=(("labeled_data", "no"),)),
    Transform("plenty-labels", "labeled_data", "yes",
              {"en": "We have about 50,000 labelled examples for this task.", "zh": "我们有大约5万条这个任务的标注数据。"},
              UNCHANGED),
)


@dataclass(frozen=True)
class Variant:
    case_id: str
    transform: str
    lang: str
    description: str
    source_decision: str
    expected_decision: str

    @property
    def id(self) -> str:
        return f"{self.case_id}+{self.transform}"

    @property
    def should_move(self) -> bool:
        return self.expected_decision != self.source_decision


def generate(cases: Iterable[GoldenCase], decided: Optional[Mapping[str, str]] = None,
             transforms: Iterable[Transform] = TRANSFORMS) -> list[Variant]:
    """Variants of the cases that every applicable transform makes.

    With `decided` (case id -> the advisor's one-shot decision) only cases the advisor
    decides correctly are used: the relation is checked from a verified starting point.
    """
    out = []
    transforms = tuple(transforms)
    for case in cases:
        gold = case.expected.decision
        if decided is not None and decided.get(case.id) != gold:
            continue
        for t in transforms:
            if t.applies(case):
                out.append(Variant(case.id, t.id, case.lang, t.apply(case.description, case.lang),
                                   gold, t.table[gold]))
    return out


def summarise(variants: list[Variant], decisions: list[str]) -> dict:
    """Pass rate overall, by transform, and split into must-move / must-hold variants."""
    passed = [v.expected_decision == d for v, d in zip(variants, decisions)]

    def rate(mask: list[bool]) -> dict:
        n = sum(mask)
        k = sum(p for p, m in zip(passed, mask) if m)
        return {"passed": k, "n": n, "pass_rate": (k / n) if n else None}

    by_t = {t.id: rate([v.transform == t.id for v in variants]) for t in TRANSFORMS}
    failures = [{"id": v.id, "from": v.source_decision, "expected": v.expected_decision, "got": d}
                for v, d, p in zip(variants, decisions, passed) if not p]
    return {**rate([True] * len(variants)), "must_move": rate([v.should_move for v in variants]),
            "must_hold": rate([not v.should_move for v in variants]), "by_transform": by_t,
            "failures": failures}
