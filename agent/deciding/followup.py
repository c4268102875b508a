"""After the advice: "what if …?" (a hypothetical, nothing saved) and "change the … answer to …" (saved).

`parse` tells the two apart and finds the fact they name; the reader (passed in by the caller)
reads the words; `apply` lays what was read over a state; `diff` says what moved between two
recommendations, and `summary` says it in the person's language.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

from ..types import (ALL_DIMENSIONS, AdviceChange, DimensionValue, Exchange, FactChange, InterviewState, Profile,
                     Reading, Recommendation)
from ..wording import wording
from .interview import merge

Read = Callable[[str, Optional[str]], Reading]

_END = r"\s*[?？.。!！]*\s*$"
_WHAT_IF = re.compile(r"^\s*(?:and |so |but )?(?:what if|what about if|what would happen if|suppose|supposing|"
                      r"imagine|assume|if)\b[\s,:]*(?P<rest>.+?)" + _END, re.I | re.S)
# Chinese puts the "if" anywhere: 我们的数据如果是静态的呢?
_WHAT_IF_ZH = re.compile(r"如果|假如|假设|要是|万一|倘若")
_ZH_TRIM = re.compile(r"(如果|假如|假设|要是|万一|倘若|的话|会怎样|会怎么样|怎么样|结果呢|那么|那|呢)")
_CHANGE = re.compile(r"^\s*(?:please\s+)?(?:change|set|switch|update|make)\s+(?:the\s+|my\s+|our\s+)?(?P<dim>.+?)"
                     r"(?:\s+answer)?\s+to\s+(?P<rest>.+?)" + _END, re.I | re.S)
_CHANGE_ZH = re.compile(r"^\s*(?:请)?(?:把|将)(?P<dim>.+?)(?:的)?(?:回答|答案)?(?:改成|改为|换成|设为|设成)(?P<rest>.+?)" + _END, re.S)

# Words that name each core fact, longest first when matched (so "labelled data" beats "data").
# A bare "data" names how often the data changes: that is the data question whose answer
# moves the decision between RAG and fine-tuning.
ALIASES: dict[str, tuple[str, ...]] = {
    "external_knowledge": ("external knowledge", "outside knowledge", "external data", "knowledge", "documents",
                           "docs", "database", "外部知识", "外部数据", "知识", "文档", "数据库"),
    "model_adaptation": ("behaviour", "behavior", "style", "tone", "voice", "format", "jargon", "风格", "行为", "语气",
                         "口吻", "格式", "术语"),
    "hallucination_critical": ("hallucination", "hallucinations", "made-up answers", "幻觉", "编造"),
    "labeled_data": ("labelled data", "labeled data", "labelled examples", "labeled examples", "training data",
                     "labels", "examples", "标注数据", "训练数据", "标注", "样本", "示例"),
    "data_dynamics": ("data changes", "changing data", "data dynamics", "dynamic", "static", "data", "数据变化",
                      "动态", "静态", "变化", "数据"),
    "transparency": ("traceable", "traceability", "sources", "citations", "transparency", "出处", "可追溯", "来源",
                     "透明"),
}
# Words that state the named fact's value outright (the reader does not read "static", and
# reads "does not change" as a change).
VALUE_WORDS: dict[str, dict[str, str]] = {
    "data_dynamics": {
        "no": r"\bstatic\b|\bstable\b|\bunchanging\b|\b(never|rarely|seldom|(does|do|did)\s*n[o']t|stopped|stop)\s+chang"
              r"|静态|不变|不会变|很少变|不怎么变|固定|不更新|很少更新",
        "yes": r"\bdynamic\b|\bchang\w*\s+(daily|weekly|hourly|often|every|constantly|all the time)|\bkept up to date\b"
               r"|动态|经常变|每天|每周|实时|频繁",
    },
}


@dataclass
class FollowUp:
    """A parsed follow-up: what-if or change, the fact it names (if any) and the words to read."""

    kind: str  # "what_if" | "change"
    dimension: Optional[str]
    text: str


def name_dimension(text: str) -> Optional[str]:
    """The core fact these words name (longest alias wins), or None."""
    low = text.lower()
    best: tuple[int, Optional[str]] = (0, None)
    for dim, aliases in ALIASES.items():
        for alias in aliases:
            pat = re.escape(alias) if not alias.isascii() else r"\b" + re.escape(alias) + r"\w*"
            if len(alias) > best[0] and re.search(pat, low):
                best = (len(alias), dim)
    return best[1]


def parse(said: str) -> Optional[FollowUp]:
    """A what-if or a change, or None when the words are neither."""
    m = _CHANGE.match(said) or _CHANGE_ZH.match(said)
    if m:
        return FollowUp("change", name_dimension(m.group("dim")), m.group("rest").strip())
    m = _WHAT_IF.match(said)
    if m:
        rest = m.group("rest").strip()
        return FollowUp("what_if", name_dimension(rest), rest)
    if _WHAT_IF_ZH.search(said):
        rest = _ZH_TRIM.sub("", said).strip(" ?？。!！,，")
        return FollowUp("what_if", name_dimension(rest), rest) if rest else None
    return None


_NEGATION = re.compile(r"\b(no|not|never|without|none|neither|nor|\w+n't|nothing)\b|不|没|无|别", re.I)
_BARE = re.compile(r"^\s*(yes|no|yep|nope|true|false|是|否|是的|不是|有|没有|对|不对|需要|不需要|"
                   r"i don'?t know|not sure|unknown|不知道|不清楚)\s*[.!。！]*\s*$", re.I)
_NUMBER = re.compile(r"\d|[一二两三四五六七八九十百千万几]+(条|个|份|k)")


def named_value(dim: str, text: str, reading: Reading) -> Optional[str]:
    """The value a follow-up gives the fact it names, or None when it gives none.

    The reader decides a bare answer ("no", 是) and a count of examples (its R-ANSWER and
    R-COUNT rules). Otherwise the words decide: a value word ("static") first, then polarity
    (a negation means no). On such short hypothetical fragments the reader is unreliable:
    it reads "we needed our brand voice" and 需要品牌语气 as no.
    """
    by_reader = reading.profile.get(dim).value
    if _BARE.match(text) or (dim == "labeled_data" and _NUMBER.search(text)):
        return None if by_reader == "unknown" else by_reader
    for value, pattern in VALUE_WORDS.get(dim, {}).items():
        if re.search(pattern, text, re.I):
            return value
    return "no" if _NEGATION.search(text) else "yes"


def apply(state: InterviewState, follow: FollowUp, said: str, read: Read) -> bool:
    """Lay what the follow-up says over `state`; False when it says nothing the advisor can use.

    When it names a fact, only that fact moves; otherwise whatever the reader finds does.
    """
    reading = read(follow.text, follow.dimension)
    dim = follow.dimension
    if dim is None:
        if not reading.profile.known():
            return False
        merge(state, reading.profile)
    elif reading.answer == "unknown" and reading.profile.get(dim).value == "unknown":
        # "change the data answer to I don't know": the fact becomes open again.
        setattr(state.profile, dim, DimensionValue())
        state.certainty.pop(dim, None)
    else:
        value = named_value(dim, follow.text, reading)
        if value is None:
            return False
        update = Profile()
        read_dv = reading.profile.get(dim)
        probability = read_dv.probability if read_dv.value == value else None
        setattr(update, dim, DimensionValue(value=value, evidence=follow.text, source="stated",
                                            probability=probability))
        merge(state, update)
        state.contradictions = [d for d in state.contradictions if d != dim]
    _record(state, follow, said)
    return True


def _record(state: InterviewState, follow: FollowUp, said: str) -> None:
    # A change is part of the session's story (the transcript shows it); a what-if is not kept.
    if follow.kind == "change":
        state.history.append(Exchange(dimension=None, question="change", answer=said))


def diff(before: Recommendation, after: Recommendation, follow: FollowUp, said: str) -> AdviceChange:
    """What moved from one recommendation to the other: the decision and each fact's value."""
    facts = [FactChange(dimension=d, before=before.profile.get(d).value, after=after.profile.get(d).value)
             for d in ALL_DIMENSIONS if before.profile.get(d).value != after.profile.get(d).value]
    return AdviceChange(kind=follow.kind, said=said, saved=follow.kind == "change",
                        decision_before=before.decision, decision_after=after.decision,
                        confidence_before=before.confidence, confidence_after=after.confidence, facts=facts)


def summary(change: AdviceChange, lang: str) -> str:
    """What moved, in a few lines in the person's language."""
    w = wording()
    r, names, dims = w.replies[lang], w.decision_names[lang], w.dimension_names[lang]
    lines = [(r["change_head"] if change.saved else r["whatif_head"]).format(said=change.said.strip())]
    if change.decision_before != change.decision_after:
        lines.append(r["moved"].format(before=names[change.decision_before], after=names[change.decision_after]))
    else:
        lines.append(r["unmoved"].format(after=names[change.decision_after]))
    if change.facts:
        sep = "；" if lang == "zh" else "; "
        lines.append(r["facts_moved"].format(facts=sep.join(
            f"{dims.get(f.dimension, f.dimension)} {r['value_' + f.before]} → {r['value_' + f.after]}"
            for f in change.facts)))
    else:
        lines.append(r["no_fact_moved"])
    if not change.saved:
        lines.append(r["hypothetical"])
    return "\n".join(lines)
