"""The interview: ask only what could still change the decision, stop as soon as nothing can.

Commands work in both languages: skip, I don't know, why?, back (change the last answer),
just recommend. The state is a pydantic model, saved after every turn by the caller.
"""
from __future__ import annotations

import re
from typing import Callable

from .policy import swing_dimensions
from ..types import (CORE_DIMENSIONS, DimensionValue, Exchange, InterviewState, OpenQuestion, Profile, Reading,
                     Snapshot, Turn)
from ..wording import wording

MAX_QUESTIONS = 8

_SKIP = re.compile(r"^\s*(skip|pass|next|跳过|下一个|略过)\s*[.!。！]?\s*$", re.I)
_WHY = re.compile(r"^\s*(why|why\?|why do you ask|why is that|为什么|为啥|为何)\s*[?？]?\s*$", re.I)
_BACK = re.compile(r"^\s*(back|go back|undo|change (my )?(last )?answer|返回|上一个|上一步|撤销|改一下上一个)\s*$", re.I)
_DONE = re.compile(r"^\s*(just recommend|recommend( now)?|done|finish|that'?s all|enough|give me (the|your) (advice|recommendation)|直接推荐|直接给建议|给建议吧?|就这些|结束|够了)\s*[.!。！]?\s*$", re.I)
_FOREIGN = re.compile(r"[\u0400-\u04ff\u0600-\u06ff\u0900-\u097f\u0e00-\u0e7f\u3040-\u30ff\uac00-\ud7af\u0590-\u05ff]")
_LATIN_OR_CJK = re.compile(r"[A-Za-z\u4e00-\u9fff]")


def is_third_language(text: str) -> bool:
    """Text written mostly in a script that is neither Latin nor Chinese."""
    foreign = len(_FOREIGN.findall(text))
    return foreign > 0 and foreign >= len(_LATIN_OR_CJK.findall(text))


Read = Callable[[str, str | None], Reading]
Phraser = Callable[[str, str, Profile], str]


def is_back(answer: str) -> bool:
    """Is this the `back` command (in either language)?"""
    return bool(_BACK.match(answer))


def answered(state: InterviewState) -> list[Exchange]:
    """Questions answered and not taken back, oldest first (what `back` can take back)."""
    return [e for e in state.history if e.dimension and e.answer is not None and not e.withdrawn]


def open_dimensions(state: InterviewState) -> list[str]:
    """Core dimensions still unknown and not skipped."""
    return [d for d in CORE_DIMENSIONS if state.profile.get(d).value == "unknown" and d not in state.skipped]


def next_dimension(state: InterviewState) -> str | None:
    """The open dimension whose answer could change the decision, or None to stop."""
    if state.questions_asked >= MAX_QUESTIONS:
        return None
    swing = swing_dimensions(state.profile, open_dimensions(state))
    return swing[0] if swing else None


def question_turn(state: InterviewState, dim: str, phrase: Phraser) -> Turn:
    w = wording()
    spec = getattr(w.questions[dim], state.lang)
    text = phrase(dim, state.lang, state.profile)
    state.pending = dim
    state.history.append(Exchange(dimension=dim, question=text, before=snapshot(state)))
    return Turn(kind="question", text=text, question=OpenQuestion(dimension=dim, question=text, why=spec.why))


def _reply(state: InterviewState, key: str, **kw) -> Turn:
    return Turn(kind="info", text=wording().replies[state.lang][key].format(**kw))


def handle_command(state: InterviewState, answer: str) -> tuple[str, Turn | None]:
    """Interpret interview commands. Returns (action, turn): action in {'answer','ask','finish','reply'}."""
    if _DONE.match(answer):
        return "finish", None
    if _WHY.match(answer) and state.pending:
        why = getattr(wording().questions[state.pending], state.lang).why
        return "reply", _reply(state, "why", why=why)
    if _SKIP.match(answer):
        if state.pending:
            state.skipped.append(state.pending)
            _answer_last(state, answer)
            state.pending = None
        return "ask", None
    if _BACK.match(answer):
        taken = answered(state)
        if not taken:
            return "reply", _reply(state, "nothing_to_undo")
        last = taken[-1]
        withdraw(state, last)
        if state.pending and state.history and state.history[-1].answer is None:
            state.history.pop()  # the question we were on is asked again later if still needed
        state.pending = None
        state.history.append(Exchange(dimension=None, question="back", answer=answer))
        return "reask:" + last.dimension, None
    if is_third_language(answer):
        return "reply", _reply(state, "third_language")
    return "answer", None


def snapshot(state: InterviewState) -> Snapshot:
    """What the state knows now (taken when a question is asked, so `back` can return to it)."""
    return Snapshot(profile=state.profile.model_copy(deep=True), certainty=dict(state.certainty),
                    contradictions=list(state.contradictions), skipped=list(state.skipped),
                    description=state.description, on_topic=state.on_topic)


def withdraw(state: InterviewState, exchange: Exchange) -> None:
    """Take an answer back: everything it (and anything after it) added to the state goes.

    Restoring the snapshot taken when the question was asked removes the values, evidence and
    probabilities the answer set on *any* dimension, not only the one asked. Sessions saved
    before snapshots existed fall back to clearing the asked dimension.
    """
    if exchange.before is not None:
        b = exchange.before.model_copy(deep=True)
        state.profile, state.certainty, state.contradictions = b.profile, b.certainty, b.contradictions
        state.skipped, state.description, state.on_topic = b.skipped, b.description, b.on_topic
    else:
        setattr(state.profile, exchange.dimension, DimensionValue())
        state.certainty.pop(exchange.dimension, None)
        if exchange.dimension in state.skipped:
            state.skipped.remove(exchange.dimension)
    # Answers given after it were given on top of it: they are withdrawn with it.
    after = False
    for e in state.history:
        after = after or e is exchange
        if after and e.dimension and e.answer is not None:
            e.withdrawn = True


def _answer_last(state: InterviewState, answer: str) -> None:
    for e in reversed(state.history):
        if e.dimension == state.pending and e.answer is None:
            e.answer = answer
            return


def merge(state: InterviewState, update: Profile) -> None:
    """Lay every known value of `update` over the state's profile; probabilities go to `certainty`."""
    data = state.profile.model_copy(deep=True)
    for dim, dv in update.known().items():
        setattr(data, dim, dv.model_copy(update={"probability": None}))
        if dv.probability is None:
            state.certainty.pop(dim, None)
        else:
            state.certainty[dim] = dv.probability
    state.profile = data


def apply_answer(state: InterviewState, answer: str, read: Read) -> bool:
    """Merge what an answer says; True if the pending question got a value (or the user does not know)."""
    pending = state.pending
    reading = read(answer, pending)
    merge(state, reading.profile)
    state.on_topic = state.on_topic or reading.on_topic
    if pending is None:
        state.description = (state.description + "\n" + answer).strip()
        state.contradictions = sorted(set(state.contradictions) | set(reading.contradictions))
        return True
    state.contradictions = [d for d in state.contradictions if d != pending]  # an answer settles it
    _answer_last(state, answer)
    if reading.answer == "unknown" and state.profile.get(pending).value == "unknown":
        state.skipped.append(pending)  # "not sure": moving on is the answer
        state.pending = None
        return True
    got = state.profile.get(pending).value != "unknown"
    if got:
        state.pending = None
    return got
