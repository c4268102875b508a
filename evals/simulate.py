"""A simulated interview user: knows a case's facts and answers only the question asked.

The user knows expected.profile and the case's `facts` (expected.profile wins where both
speak). Asked about a dimension it answers with a bare yes / no / don't know in the case's
language; asked about labelled data it answers with a number. It never volunteers anything
else. If the advisor keeps saying it did not understand, the user repeats the answer once
and then says "skip", as a person would, and the run records that it got stuck.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from agent.types import GoldenCase

Start = Literal["description", "empty"]
STARTS: tuple[Start, ...] = ("description", "empty")
MAX_TURNS = 40  # a guard against an interview that never ends (more than any real one takes)
REPEATS = 2     # how often the user gives the same answer before saying "skip"

ANSWERS = {
    "en": {"yes": "Yes.", "no": "No.", "unknown": "I don't know.", "skip": "skip"},
    "zh": {"yes": "是的。", "no": "不是。", "unknown": "不知道。", "skip": "跳过"},
}
LABELLED = {
    "en": {"yes": "About 20000 labelled examples.", "no": "Only about 50."},
    "zh": {"yes": "大约两万条标注数据。", "no": "只有大约50条。"},
}


class SimulatedUser:
    """Answers questions about one case's dimensions, and nothing more."""

    def __init__(self, case: GoldenCase):
        self.lang = case.lang
        self.knows: dict[str, str] = {**case.facts, **case.expected.profile}

    def answer(self, dimension: Optional[str]) -> str:
        value = self.knows.get(dimension or "", "unknown")
        if dimension == "labeled_data" and value in LABELLED[self.lang]:
            return LABELLED[self.lang][value]
        return ANSWERS[self.lang][value]

    def skip(self) -> str:
        return ANSWERS[self.lang]["skip"]


@dataclass
class InterviewRun:
    case_id: str
    start: Start
    decision: Optional[str] = None
    questions: int = 0
    asked: list[str] = field(default_factory=list)
    not_understood: int = 0  # answers the advisor said it did not understand
    stuck: bool = False      # the user had to say "skip" to get past a question
    error: Optional[str] = None

    def as_dict(self) -> dict:
        return {"id": self.case_id, "start": self.start, "decision": self.decision,
                "questions": self.questions, "asked": self.asked, "not_understood": self.not_understood,
                "stuck": self.stuck, "error": self.error}


def simulate(advisor, case: GoldenCase, start: Start) -> InterviewRun:
    """Run one interview to its recommendation; the advisor is an agent.api.Advisor."""
    user = SimulatedUser(case)
    run = InterviewRun(case.id, start)
    try:
        if start == "description":
            state, turn = advisor.start_interview(case.description, lang=case.lang)
        else:
            state, turn = advisor.start_interview("", lang=case.lang)
        repeats = 0
        for _ in range(MAX_TURNS):
            if turn.kind == "recommendation":
                break
            if turn.kind == "info":
                run.not_understood += 1
                repeats += 1
                if repeats >= REPEATS:
                    run.stuck = True
                    turn = advisor.reply(state, user.skip())
                    repeats = 0
                    continue
            else:
                repeats = 0
                run.asked.append(turn.question.dimension if turn.question else "?")
            turn = advisor.reply(state, user.answer(state.pending))
        else:
            run.error = f"no recommendation after {MAX_TURNS} turns"
            turn = None
        rec = turn.recommendation if turn is not None else advisor.finish(state)
        run.decision = rec.decision if rec else None
        run.questions = state.questions_asked
    except Exception as exc:  # an eval records a crash per case and goes on
        run.error = f"{type(exc).__name__}: {exc}"
    return run


def summarise(runs: list[InterviewRun], one_shot: dict[str, str], gold: dict[str, str]) -> dict:
    """Questions asked (mean, p50, max), agreement with the one-shot decision, accuracy."""
    from .metrics import mean, percentile

    out: dict = {}
    for start in STARTS:
        rs = [r for r in runs if r.start == start]
        if not rs:
            continue
        qs = [r.questions for r in rs]
        comparable = [r for r in rs if gold.get(r.case_id) != "undecided"]
        agree = [r.decision == one_shot.get(r.case_id) for r in comparable]
        correct = [r.decision == gold.get(r.case_id) for r in comparable]
        out[start] = {
            "n": len(rs), "mean_questions": mean(qs), "p50_questions": percentile(qs, 50),
            "max_questions": max(qs), "agreement": (sum(agree) / len(agree)) if agree else None,
            "accuracy": (sum(correct) / len(correct)) if correct else None,
            "stuck": sum(r.stuck for r in rs), "not_understood": sum(r.not_understood for r in rs),
            "errors": sum(r.error is not None for r in rs),
            "disagreements": [{"id": r.case_id, "interview": r.decision, "one_shot": one_shot.get(r.case_id),
                               "expected": gold.get(r.case_id)}
                              for r in comparable if r.decision != one_shot.get(r.case_id)],
        }
    out["max_questions"] = max((v["max_questions"] for k, v in out.items() if k in STARTS), default=0)
    return out
