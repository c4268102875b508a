"""What would change the decision: the smallest changes in the facts that flip the policy's outcome.

Computed from the policy alone (no reading, no wording), so any front can ask it of any profile:
the one-shot advice shows it, and a "what if" in chat can call it on the session's profile.
"""
from __future__ import annotations

from itertools import combinations, product
from typing import Iterable

from ..types import DECISIONS, DimensionValue, Flip, Profile
from .policy import QUESTION_ORDER, decide


def _changed(p: Profile, changes: dict[str, str]) -> Profile:
    q = p.model_copy(deep=True)
    for dim, value in changes.items():
        setattr(q, dim, DimensionValue(value=value, evidence="", source="stated"))  # as an answer would be
    return q


def _alternatives(p: Profile, dim: str) -> tuple[str, ...]:
    dv = p.get(dim)
    if dv.value == "unknown" or dv.source == "assumed":
        return ("yes", "no")
    return ("no",) if dv.value == "yes" else ("yes",)


def _stated(p: Profile, dim: str) -> bool:
    dv = p.get(dim)
    return dv.value != "unknown" and dv.source != "assumed"


def what_would_change(profile: Profile, *, contradictions: Iterable[str] = (), max_changes: int = 2) -> list[Flip]:
    """For each other decision, the fewest changed core facts (taken as stated) that reach it.

    A decision reachable only by more than `max_changes` changes is left out; `undecided` is
    never a target. Ordered by number of changes, then decision.
    """
    contradictions = list(contradictions)
    base = decide(profile, contradictions=contradictions).decision
    found: dict[str, Flip] = {}
    for n in range(1, max_changes + 1):
        candidates = []
        for dims in combinations(QUESTION_ORDER, n):
            for values in product(*(_alternatives(profile, d) for d in dims)):
                changes = dict(zip(dims, values))
                still = [c for c in contradictions if c not in changes]
                decision = decide(_changed(profile, changes), contradictions=still).decision
                if decision not in (base, "undecided") and decision not in found:
                    candidates.append((changes, decision))
        # Among equally small changes, prefer one to a fact the user stated: it names what the
        # decision rests on ("if your documents stopped changing"), where an open one is a question.
        candidates.sort(key=lambda c: -sum(_stated(profile, d) for d in c[0]))
        for changes, decision in candidates:
            found.setdefault(decision, Flip(changes=changes, decision=decision))
    return sorted(found.values(), key=lambda f: (len(f.changes), DECISIONS.index(f.decision)))
