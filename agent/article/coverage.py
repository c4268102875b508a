"""What the article does and does not cover, derived from its hand-made section map."""
from __future__ import annotations

from typing import Iterable

from ..types import ASPECTS, CORE_DIMENSIONS, DECISIONS, CoverageMap, CoverageTopic, Section

_DECISION_TITLES = {"rag": "RAG (retrieval-augmented generation)", "fine-tuning": "Fine-tuning",
                    "hybrid": "Hybrid: fine-tuning + RAG", "prompting": "Prompting a base model",
                    "undecided": "Undecided (not enough known)"}
_SCOPE = ("The article compares RAG and fine-tuning along {dims} dimensions, {cases} use cases and {aspects} "
          "other aspects, the topics listed here; a question outside them is outside what the advisor can cite, "
          "and a topic marked not covered is the advisor's own reading, with no quote behind it.")


def _depth(sections: list[Section]) -> str:
    if not sections:
        return "no section of the article speaks to it"
    argued = sorted({s.supports for s in sections if s.supports})
    where = f"{len(sections)} section{'s' if len(sections) != 1 else ''}"
    if not argued:
        return f"{where}; mentioned as a consideration, no decision argued from it"
    return f"{where}; argues for {', '.join(argued)}"


def _topic(id_: str, kind: str, title: str, sections: list[Section]) -> CoverageTopic:
    return CoverageTopic(id=id_, kind=kind, title_en=title, covered=bool(sections),
                         sections=[s.id for s in sections],
                         supports=sorted({s.supports for s in sections if s.supports}), note=_depth(sections))


def build_coverage(title: str, title_en: str, sections: Iterable[Section]) -> CoverageMap:
    """The coverage map: every dimension, aspect, decision and use case, with the sections on it."""
    sections = list(sections)
    topics = []
    for dim in CORE_DIMENSIONS:
        topics.append(_topic(dim, "dimension", dim.replace("_", " "), [s for s in sections if dim in s.dimensions]))
    for asp in ASPECTS:
        topics.append(_topic(asp, "aspect", asp.replace("_", " "), [s for s in sections if asp in s.aspects]))
    for dec in DECISIONS:
        topics.append(_topic(dec, "decision", _DECISION_TITLES[dec], [s for s in sections if s.supports == dec]))
    for case in (s for s in sections if s.parent == "use-cases"):
        topics.append(_topic(case.id, "use_case", case.title_en,
                             [case] + [s for s in sections if s.parent == case.id]))
    return CoverageMap(article_title=title, article_title_en=title_en, sections=len(sections), topics=topics,
                       not_covered=[t.id for t in topics if not t.covered],
                       out_of_scope=_SCOPE.format(dims=len(CORE_DIMENSIONS), aspects=len(ASPECTS),
                                                  cases=sum(t.kind == "use_case" for t in topics)))
