"""Disagreements between the parts of one Recommendation: does the advice tell one story?

Each part is read back for what it claims: the headline (which of the wording's headlines it
is), every cited line (its claim id, e.g. `model_adaptation.no`), caveats, open questions, why-not
lines and flips. A claim that contradicts the profile table or the decision is a disagreement.
Nothing here re-runs the policy on the parts: it checks what the reader is shown.
"""
from __future__ import annotations

from typing import Optional

from ..types import CORE_DIMENSIONS, Citation, Profile, Recommendation
from ..wording import wording

# What each headline says about the two axes and the data (None: says nothing).
_HEADLINE_CLAIMS: dict[str, dict[str, Optional[bool]]] = {
    "rag": {"knowledge": True, "behaviour": False},
    "fine-tuning": {"knowledge": False, "behaviour": True},
    "hybrid": {"knowledge": True, "behaviour": True},
    "prompting": {"knowledge": False, "behaviour": False},
    "undecided": {},
    "prompting.thin_data": {"knowledge": False, "behaviour": True, "thin_data": True},
    "rag.thin_data": {"knowledge": True, "behaviour": True, "thin_data": True},
}
# Caveats that advise on fine-tuning only: on a decision without fine-tuning they need saying so.
_FINE_TUNING_CAVEATS = {"caveat.stale_snapshot", "caveat.labeled_data_unknown"}
_KNOWLEDGE_DIMS = ("external_knowledge", "data_dynamics", "transparency", "hallucination_critical")


def headline_key(rec: Recommendation) -> Optional[str]:
    """Which wording headline the advice shows (the decision's own when it has none), or None."""
    if not rec.headline:
        return rec.decision
    for key, text in wording().headline[rec.lang].items():
        if text == rec.headline:
            return key
    return None


def _knowledge(p: Profile) -> Optional[bool]:
    """What the profile table shows on the knowledge axis: True, False, or None when it says nothing."""
    ek = p.external_knowledge
    if ek.value == "yes":
        return True
    if ek.value == "no" and ek.source != "assumed":
        return False
    if any(p.get(d).value == "yes" and p.get(d).source != "assumed" for d in _KNOWLEDGE_DIMS[1:]):
        return True
    return False if ek.value == "no" else None


def _claims(cites: list[Citation]) -> list[str]:
    return [c.claim for c in cites if c.claim]


def _value_clash(claim: str, p: Profile) -> Optional[str]:
    """A `<dimension>.<value>` claim that the profile table contradicts."""
    dim, _, value = claim.rpartition(".")
    if dim not in CORE_DIMENSIONS or value not in ("yes", "no"):
        return None
    shown = p.get(dim).value
    if shown == "unknown" and value == "no":
        return None  # the policy takes an unmentioned need as absent
    return None if shown == value else f"says {dim} is {value}, the profile says {shown}"


def disagreements(rec: Recommendation) -> list[str]:
    """Every disagreement between the parts of `rec`, one line each; [] when it tells one story."""
    p, out = rec.profile, []
    key = headline_key(rec)
    if key is None:
        out.append("headline: not one of the advisor's headlines")
    elif key.split(".")[0] != rec.decision:
        out.append(f"headline: tells the {key} story on a {rec.decision} decision")
    else:
        said = _HEADLINE_CLAIMS[key]
        k = _knowledge(p)
        if "knowledge" in said and k is not None and said["knowledge"] != k:
            out.append(f"headline: says outside knowledge is {'needed' if said['knowledge'] else 'not needed'}, "
                       f"the profile says {'yes' if k else 'no'}")
        ma = p.model_adaptation.value
        if "behaviour" in said and ma != "unknown" and said["behaviour"] != (ma == "yes"):
            out.append(f"headline: says a behaviour change is {'needed' if said['behaviour'] else 'not needed'}, "
                       f"the profile says {ma}")
        if said.get("thin_data") and p.labeled_data.value != "no":
            out.append(f"headline: says the labelled data is too thin, the profile says {p.labeled_data.value}")
    for part, items in (("reason", rec.rationale), ("caveat", rec.caveats), ("why-not", rec.why_not),
                        ("readiness", rec.readiness)):
        for i, item in enumerate(items):
            for claim in _claims(item.citations):
                clash = _value_clash(claim, p)
                if clash:
                    out.append(f"{part} {i + 1} ({claim}): {clash}")
                if claim == "prompting.neither" and (p.model_adaptation.value == "yes" or _knowledge(p)):
                    out.append(f"{part} {i + 1}: says neither axis applies, the profile says one does")
                if part == "caveat" and claim in _FINE_TUNING_CAVEATS and rec.decision not in ("fine-tuning", "hybrid"):
                    out.append(f"caveat {i + 1} ({claim}): advises on fine-tuning on a {rec.decision} decision")
    for wn in rec.why_not:
        if wn.decision == rec.decision:
            out.append(f"why-not: argues against {wn.decision}, the decision itself")
    for f in rec.what_would_change:
        if f.decision == rec.decision:
            out.append(f"what would change it: {f.changes} leads to {f.decision}, the decision itself")
        for dim, value in f.changes.items():
            if p.get(dim).value == value and p.get(dim).source != "assumed":
                out.append(f"what would change it: sets {dim} to {value}, which the profile already says")
    contradicted = {c.claim.split(".", 1)[1] for r in rec.rationale for c in r.citations
                    if c.claim and c.claim.startswith("question.")}
    for q in rec.open_questions:
        dv = p.get(q.dimension)
        if dv.value != "unknown" and dv.source != "assumed" and q.dimension not in contradicted:
            out.append(f"open question on {q.dimension}: the profile already states {dv.value}")
    return out
