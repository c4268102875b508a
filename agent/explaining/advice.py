"""Builds the Recommendation: outcome + profile + cited reasons, caveats and open questions."""
from __future__ import annotations

import re

from . import story
from .citations import Citer
from ..deciding.policy import KNOWLEDGE_SIGNALS, Outcome
from ..types import (CORE_DIMENSIONS, Citation, DimensionValue, OpenQuestion, Profile, Reason,
                    Recommendation)
from ..wording import wording

# Needs a one-shot text does not mention are assumed absent; labelled data is a resource,
# not a need, so silence about it stays unknown (and becomes an open question instead).
ASSUMABLE = tuple(d for d in CORE_DIMENSIONS if d != "labeled_data")


# The "(\"{evidence}\")" part of a reason template, dropped when that clause was already shown.
_NO_EVIDENCE = re.compile(r' ?\("\{evidence\}"\)|（“\{evidence\}”）')


def _clip(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def with_assumptions(profile: Profile) -> tuple[Profile, list[str]]:
    """The profile with unmentioned needs set to `no` (source `assumed`), and which they are."""
    p = profile.model_copy(deep=True)
    assumed = []
    for dim in ASSUMABLE:
        if p.get(dim).value == "unknown":
            setattr(p, dim, DimensionValue(value="no", evidence="", source="assumed"))
            assumed.append(dim)
    return p, assumed


def _reason_dims(profile: Profile, outcome: Outcome) -> list[str]:
    """Deciding dimensions first, then known facts that point the same way."""
    dims = [d for d in outcome.decided_by if d in CORE_DIMENSIONS]
    extra = []
    if outcome.knowledge:
        extra += [d for d in ("external_knowledge", *KNOWLEDGE_SIGNALS) if profile.get(d).value == "yes"]
    if outcome.behaviour and not outcome.fine_tuning_blocked and profile.labeled_data.value == "yes":
        extra.append("labeled_data")
    if not outcome.knowledge and profile.data_dynamics.value == "no" and outcome.behaviour:
        extra.append("data_dynamics")
    for d in extra:
        if d not in dims:
            dims.append(d)
    return [d for d in dims if profile.get(d).source != "assumed"]


def build(profile: Profile, outcome: Outcome, lang: str, citer: Citer, description: str = "",
          *, engine: str = "offline", one_shot: bool = True, notices: list[str] | None = None) -> Recommendation:
    """Everything the advisor shows, each reason with a verified citation (or not at all)."""
    w = wording()
    shown, assumed = with_assumptions(profile) if one_shot else (profile.model_copy(deep=True), [])
    rationale: list[Reason] = []

    def reason(dim: str, claim: str, text: str) -> None:
        cite = citer.cite_claim(claim)
        if cite is not None:  # no reason without a citation
            rationale.append(Reason(dimension=dim, text=text, citations=[cite]))

    if outcome.decision == "undecided":
        for dim in outcome.contradictions:
            reason(dim, f"question.{dim}", _contradiction_text(dim, lang))
    else:
        shown_evidence: set[str] = set()
        for dim in _reason_dims(profile, outcome):
            dv = profile.get(dim)
            tpl = getattr(w.reasons[dim][dv.value], lang)
            if dv.evidence and dv.evidence in shown_evidence:
                tpl = _NO_EVIDENCE.sub("", tpl)  # each clause of the user's words is shown once
            shown_evidence.add(dv.evidence)
            reason(dim, f"{dim}.{dv.value}", tpl.format(evidence=_clip(dv.evidence or "—")))
        if outcome.decision == "prompting" and not outcome.behaviour:
            # Only when no behaviour need was found: a style need held back by thin data is
            # the labelled-data reason's story, not "neither".
            reason("model_adaptation", "prompting.neither", getattr(w.prompting_reason, lang))
        _attach_use_case(rationale, outcome.decision, description, citer, lang)

    caveats = _caveats(profile, outcome, lang, citer)
    open_qs = _open_questions(outcome, assumed, lang, profile)
    why_not = story.why_not(shown, outcome, lang, citer.cite_claim)
    ready = story.readiness(shown, outcome, lang, citer.cite_claim)
    citations: list[Citation] = []
    # The top-level list backs the decision (its reasons and caveats); why-not and readiness lines
    # carry their own citations, which argue about other outcomes and are not scored as the decision's.
    for r in [*rationale, *caveats]:
        for c in r.citations:
            if all((c.section_id, c.quote) != (x.section_id, x.quote) for x in citations):
                citations.append(c)
    return Recommendation(
        decision=outcome.decision, confidence=outcome.confidence, engine=engine, lang=lang,
        profile=shown, rationale=rationale, citations=citations, open_questions=open_qs,
        caveats=caveats, assumptions=assumed, decided_by=outcome.decided_by, notices=list(notices or []),
        headline=story.headline(outcome, lang),
        why_not=why_not, what_would_change=story.flips(profile, outcome, lang), readiness=ready,
    )


def _contradiction_text(dim: str, lang: str) -> str:
    w = wording()
    return w.labels.contradiction[lang].format(name=w.dimension_names[lang][dim])


def _attach_use_case(rationale: list[Reason], decision: str, description: str, citer: Citer, lang: str) -> None:
    """When the project mirrors one of the article's use cases with the same verdict, cite it."""
    if not rationale or not description:
        return
    w = wording()
    for section_id, cue in w.use_cases.items():
        if cue.decision == decision and re.search(cue.p, description, re.I):
            cite = citer.cite_claim("use_case." + section_id.split(".")[1].replace("-", "_"))
            if cite is not None:
                title = cite.heading_path[-2] if len(cite.heading_path) > 1 else cite.title_en
                rationale[0].citations.append(cite)
                rationale[0].text += " " + w.use_case_reason[lang].format(
                    title=title if lang == "zh" else cite.title_en.split(":")[0])
            return


def _caveats(profile: Profile, outcome: Outcome, lang: str, citer: Citer) -> list[Reason]:
    w = wording()
    keys = [a for a in w.caveats if a in Profile.model_fields and profile.get(a).value == "yes"]
    if outcome.decision in ("fine-tuning", "hybrid") and profile.labeled_data.value == "unknown":
        keys.append("labeled_data_unknown")
    if outcome.decision == "fine-tuning" and profile.data_dynamics.value == "yes":
        keys.append("stale_snapshot")
    out = []
    for key in keys:
        tpl = w.caveats[key]
        cite = citer.cite_claim(f"caveat.{key}")
        if cite is not None:
            dim = "labeled_data" if key == "labeled_data_unknown" else "data_dynamics" if key == "stale_snapshot" else key
            out.append(Reason(dimension=dim, text=getattr(tpl, lang), citations=[cite]))
    return out


def _open_questions(outcome: Outcome, assumed: list[str], lang: str, profile: Profile) -> list[OpenQuestion]:
    w = wording()
    # A fact the description states is not asked again, unless it said it both ways.
    clash = outcome.contradictions if outcome.decision == "undecided" else []
    dims = [d for d in outcome.swing if d in clash or profile.get(d).value == "unknown"
            or profile.get(d).source == "assumed"]
    dims = [d for d in clash if d not in dims] + dims
    if profile.labeled_data.value == "unknown" and outcome.behaviour and "labeled_data" not in dims:
        dims.append("labeled_data")
    dims += [d for d in assumed if d not in dims]
    out = []
    for dim in dims:
        spec = getattr(w.questions[dim], lang)
        out.append(OpenQuestion(dimension=dim, question=spec.q, why=spec.why))
    return out
