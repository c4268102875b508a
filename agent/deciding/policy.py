"""The article's framework as code: two orthogonal axes, four outcomes, and feasibility.

- Knowledge axis: does the app need external knowledge? A stated need for fresh data,
  for answers traceable to sources, or for suppressing hallucination also puts it on
  this axis unless the text says outright that no external knowledge is involved.
- Behaviour axis: must the model's behaviour, style or domain language change?
- Feasibility: fine-tuning needs plenty of labelled data ("if there is no training data,
  fine-tuning is simply impossible"). Without it, behaviour is left to prompting.
- Outcomes: both -> hybrid, knowledge only -> rag, behaviour only -> fine-tuning,
  neither -> prompting; `undecided` when the text gives no usable facts or contradicts
  itself on a dimension that decides.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Optional

from ..types import CORE_DIMENSIONS, DimensionValue, Profile

# The sharpening dimensions that put an app on the knowledge axis when stated.
KNOWLEDGE_SIGNALS = ("data_dynamics", "transparency", "hallucination_critical")
# Order in which an interview asks about still-open dimensions: the two axes first.
QUESTION_ORDER = ("external_knowledge", "model_adaptation", "labeled_data", "data_dynamics",
                  "hallucination_critical", "transparency")


@dataclass
class Outcome:
    """A decision and why: the axes, the dimensions that settled it, what could change it."""

    decision: str
    knowledge: bool
    behaviour: bool
    fine_tuning_blocked: bool
    decided_by: list[str]
    swing: list[str] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)
    confidence: float = 0.0


def _yes(dv: DimensionValue) -> bool:
    return dv.value == "yes"


def _axes(p: Profile) -> tuple[bool, bool, bool, list[str]]:
    """(knowledge, behaviour, fine-tuning blocked, decisive dimensions) of a profile."""
    decisive: list[str] = []
    ek = p.external_knowledge
    knowledge = _yes(ek)
    if knowledge:
        decisive.append("external_knowledge")
    elif ek.value != "no" or ek.source == "assumed":
        for dim in KNOWLEDGE_SIGNALS:
            dv = p.get(dim)
            # A hint of a regulated domain is not a stated need for grounding.
            if _yes(dv) and (dim != "hallucination_critical" or dv.source == "stated"):
                knowledge = True
                decisive.append(dim)
    if ek.value == "no" and ek.source != "assumed" and not knowledge:
        decisive.append("external_knowledge")
    behaviour = _yes(p.model_adaptation)
    if p.model_adaptation.value != "unknown" and p.model_adaptation.source != "assumed":
        decisive.append("model_adaptation")
    blocked = behaviour and p.labeled_data.value == "no"
    if blocked:
        decisive.append("labeled_data")
    return knowledge, behaviour, blocked, decisive


def _decision(knowledge: bool, behaviour: bool, blocked: bool) -> str:
    if behaviour and not blocked:
        return "hybrid" if knowledge else "fine-tuning"
    return "rag" if knowledge else "prompting"


def _with(p: Profile, dim: str, value: str) -> Profile:
    q = p.model_copy(deep=True)
    setattr(q, dim, DimensionValue(value=value, evidence="", source="stated"))  # as an answer would be
    return q


def swing_dimensions(p: Profile, open_dims: Iterable[str]) -> list[str]:
    """Open dimensions whose answer (yes or no) would change the decision, in asking order."""
    base = _decision(*_axes(p)[:3])
    out = []
    for dim in QUESTION_ORDER:
        if dim not in open_dims:
            continue
        if any(_decision(*_axes(_with(p, dim, v))[:3]) != base for v in ("yes", "no")):
            out.append(dim)
    return out


def decide(p: Profile, *, on_topic: bool = True, contradictions: Iterable[str] = ()) -> Outcome:
    """Apply the framework to a profile. Unknown dimensions count as absent (assumed)."""
    knowledge, behaviour, blocked, decisive = _axes(p)
    known = [d for d in CORE_DIMENSIONS if p.get(d).value != "unknown"]
    open_dims = [d for d in CORE_DIMENSIONS if p.get(d).value == "unknown" or p.get(d).source == "assumed"]
    swing = swing_dimensions(p, open_dims)
    clash = [d for d in contradictions if d in CORE_DIMENSIONS and _decides(p, d)]
    # No usable fact, on topic or not ("which approach is best for our AI thing?"), decides nothing.
    if clash or not known:
        return Outcome("undecided", knowledge, behaviour, blocked, decided_by=clash,
                       swing=swing or list(QUESTION_ORDER[:2]), contradictions=clash, confidence=0.2)
    decision = _decision(knowledge, behaviour, blocked)
    return Outcome(decision, knowledge, behaviour, blocked, decided_by=decisive, swing=swing,
                   contradictions=list(contradictions), confidence=_confidence(p, decisive, swing))


def decision_of(values: dict[str, str]) -> str:
    """The decision for plain core values (dimension -> yes/no/unknown), all taken as stated."""
    return _decision_of(tuple(sorted(values.items())))


@lru_cache(maxsize=4096)  # 3^6 combinations of core values: decision_probabilities asks for hundreds per call
def _decision_of(values: tuple[tuple[str, str], ...]) -> str:
    p = Profile()
    for dim, v in values:
        if v != "unknown":
            setattr(p, dim, DimensionValue(value=v, evidence="", source="stated"))
    if not any(v != "unknown" for _, v in values):
        return "undecided"
    return _decision(*_axes(p)[:3])


def decision_probabilities(dists: dict[str, dict[str, float]]) -> dict[str, float]:
    """P(each decision) when each core dimension's value is uncertain (dimension -> {value: p}).

    Dimensions are taken as independent; a dimension with no distribution counts as unknown.
    """
    import itertools

    dims = [d for d in CORE_DIMENSIONS]
    options = []
    for d in dims:
        dist = {v: p for v, p in dists.get(d, {"unknown": 1.0}).items() if p > 0.005}
        total = sum(dist.values()) or 1.0
        options.append([(v, p / total) for v, p in dist.items()] or [("unknown", 1.0)])
    out: dict[str, float] = {}
    for combo in itertools.product(*options):
        prob = 1.0
        for _, p in combo:
            prob *= p
        dec = decision_of({d: v for d, (v, _) in zip(dims, combo)})
        out[dec] = out.get(dec, 0.0) + prob
    return out


def profile_distributions(p: Profile, certainty: Optional[dict[str, float]] = None) -> dict[str, dict[str, float]]:
    """Per core dimension, how sure the profile is of its value (`certainty`, else its own probability).

    A value with no probability (an answer the user typed, an LLM's reading) counts as sure.
    """
    out: dict[str, dict[str, float]] = {}
    for d in CORE_DIMENSIONS:
        dv = p.get(d)
        prob = (certainty or {}).get(d, dv.probability)
        if dv.value == "unknown" or prob is None:
            out[d] = {dv.value: 1.0}
        else:
            out[d] = {dv.value: prob, "unknown": 1.0 - prob}
    return out


def _decides(p: Profile, dim: str) -> bool:
    """Whether flipping `dim` would change the decision (a contradiction there matters)."""
    return any(_decision(*_axes(_with(p, dim, v))[:3]) != _decision(*_axes(_with(p, dim, w))[:3])
               for v, w in (("yes", "no"),))


def _confidence(p: Profile, decisive: list[str], swing: list[str]) -> float:
    """Higher when the deciding facts were stated and nothing open could change the outcome."""
    score = 0.55
    for dim in decisive:
        score += {"stated": 0.12, "inferred": 0.07}.get(p.get(dim).source, 0.0)
    score -= 0.08 * len(swing)
    return round(max(0.3, min(0.95, score)), 2)
