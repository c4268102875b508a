"""One story from one outcome: the headline, why not the others, what would change it, readiness.

Everything here is derived from the policy's `Outcome` and the profile it came from, so the
parts of the advice cannot tell different stories. Lines from the article cite a claim
(`Citer.cite_claim`); what the article does not cover is said plainly and never cited.
"""
from __future__ import annotations

from typing import Callable, Optional

from ..deciding.change import what_would_change
from ..deciding.policy import KNOWLEDGE_SIGNALS, Outcome
from ..types import Citation, Flip, Profile, ReadinessItem, WhyNot
from ..wording import wording

Cite = Callable[[str], Optional[Citation]]
OUTCOMES = ("rag", "fine-tuning", "hybrid", "prompting")


def story_key(outcome: Outcome) -> str:
    """Which story the advice tells: the decision, plus `.thin_data` when a real style need waits for data."""
    thin = outcome.behaviour and outcome.fine_tuning_blocked and outcome.decision in ("prompting", "rag")
    return f"{outcome.decision}.thin_data" if thin else outcome.decision


def headline(outcome: Outcome, lang: str) -> str:
    """The headline sentence for this outcome."""
    return wording().headline[lang][story_key(outcome)]


def knowledge_claim(profile: Profile, outcome: Outcome) -> str:
    """The claim that put the project on the knowledge axis (external knowledge, or the signal that did)."""
    for dim in ("external_knowledge", *KNOWLEDGE_SIGNALS):
        if dim in outcome.decided_by and profile.get(dim).value == "yes":
            return f"{dim}.yes"
    return "external_knowledge.yes"


def _why_not_key(other: str, o: Outcome) -> Optional[str]:
    """The cause that rules `other` out under outcome `o` (first that applies)."""
    k, b, blocked = o.knowledge, o.behaviour, o.fine_tuning_blocked
    if other == "rag":
        return "rag.behaviour" if k else "rag.no_knowledge"
    if other == "fine-tuning":
        return "fine-tuning.thin_data" if blocked else "fine-tuning.no_behaviour" if not b else "fine-tuning.knowledge"
    if other == "hybrid":
        return "hybrid.no_knowledge" if not k else "hybrid.thin_data" if blocked else "hybrid.no_behaviour"
    if other == "prompting":
        return "prompting.knowledge" if k else "prompting.behaviour"
    return None


def why_not(profile: Profile, outcome: Outcome, lang: str, cite: Cite) -> list[WhyNot]:
    """One cited line for each outcome not chosen (none when undecided; a line without its quote is dropped)."""
    if outcome.decision == "undecided":
        return []
    w, out = wording(), []
    for other in OUTCOMES:
        if other == outcome.decision:
            continue
        key = _why_not_key(other, outcome)
        line = w.why_not[key]
        claim = line.claim.format(knowledge_claim=knowledge_claim(profile, outcome))
        c = cite(claim)
        if c is not None:
            dim = claim.rpartition(".")[0]
            text = getattr(line, lang)
            if dim in type(profile).model_fields and profile.get(dim).source == "assumed":
                text += w.story_labels[lang]["assumed"]  # say it rests on silence, not on a stated fact
            out.append(WhyNot(decision=other, text=text, citations=[c]))
    return out


def flip_text(flip: Flip, lang: str) -> str:
    """A flip in words: "If your data stopped changing → Fine-tuning"."""
    w = wording()
    words, changes = w.flip[lang], w.flip_changes[lang]
    said = words.join.join(changes[dim][value] for dim, value in flip.changes.items())
    return words.template.format(changes=said, decision=w.decision_names[lang][flip.decision])


def flips(profile: Profile, outcome: Outcome, lang: str) -> list[Flip]:
    """The policy's smallest flips, worded."""
    out = what_would_change(profile, contradictions=outcome.contradictions)
    for f in out:
        f.text = flip_text(f, lang)
    return out


def _uses(decision: str, technique: str) -> bool:
    return decision == technique or decision == "hybrid"


def readiness(profile: Profile, outcome: Outcome, lang: str, cite: Cite) -> list[ReadinessItem]:
    """Readiness where the article speaks to it (cited), then the topics it does not cover (never cited)."""
    if outcome.decision == "undecided":
        return []
    w, d = wording(), outcome.decision
    qs = w.readiness_questions[lang]
    items: list[ReadinessItem] = []

    def add(topic: str, key: str, status: str, question: bool = True) -> None:
        c = cite(f"readiness.{topic}")
        if c is not None:
            items.append(ReadinessItem(topic=topic, status=status, text=getattr(w.readiness[key], lang),
                                       citations=[c], question=qs[topic] if question else ""))

    fine_tuning_now = _uses(d, "fine-tuning")
    if outcome.fine_tuning_blocked:
        add("labeled_data", "labeled_data.not_ready", "not_ready")
    elif fine_tuning_now:
        ready = profile.labeled_data.value == "yes"
        add("labeled_data", "labeled_data.ready" if ready else "labeled_data.unknown",
            "ready" if ready else "unknown", question=not ready)
    if d == "fine-tuning" and profile.data_dynamics.value == "yes":
        add("upkeep", "upkeep.fine-tuning.not_ready", "not_ready")
    elif d in ("fine-tuning", "rag", "hybrid"):
        add("upkeep", f"upkeep.{d}", "unknown")
    if d != "prompting":
        add("cost", "cost", "unknown")
    if _uses(d, "rag"):
        calm = profile.latency.value == "no"  # a stated "no real-time need"
        add("latency", "latency.ready" if calm else "latency.unknown", "ready" if calm else "unknown",
            question=not calm)
    for topic in _outside_topics(d, outcome):
        spec = w.outside_article[lang][topic]
        items.append(ReadinessItem(topic=topic, status="outside_article", text=spec.says, question=spec.q))
    return items


def _outside_topics(decision: str, outcome: Outcome) -> list[str]:
    """The uncovered topics that bear on this decision."""
    out = []
    if _uses(decision, "rag"):
        out.append("long_context")
    if decision in ("rag", "hybrid", "prompting"):
        out.append("prompt_caching")
    out.append("cost_figures")
    if _uses(decision, "fine-tuning") or outcome.fine_tuning_blocked:
        out.append("hosted_fine_tuning")
    out.append("agents_tools")
    return out
