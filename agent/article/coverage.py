"""What the article does and does not cover, derived from its hand-made section map."""
from __future__ import annotations

import sys
from functools import lru_cache
from typing import Iterable

import yaml
from pydantic import ValidationError

from ..errors import UserError
from ..types import (ASPECTS, CORE_DIMENSIONS, DECISIONS, CoverageAspect, CoverageAspects, CoverageMap,
                     CoverageTopic, Section)
from .source import knowledge_dir, read_text_strict

COVERAGE_FILE = "coverage.yaml"

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
                                                  cases=sum(t.kind == "use_case" for t in topics)),
                       aspects=aspects())


@lru_cache(maxsize=1)
def _load_aspects() -> CoverageAspects:
    path = knowledge_dir() / COVERAGE_FILE
    try:
        return CoverageAspects.model_validate(yaml.safe_load(read_text_strict(path)))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise UserError(f"{path}: invalid coverage file: {str(exc).splitlines()[0]}") from exc


def aspects() -> list[CoverageAspect]:
    """knowledge/coverage.yaml, with the question that settles each aspect the article does not quote."""
    from ..wording import wording

    outside = wording().outside_article["en"]
    return [a.model_copy(update={"question": outside[a.id].q if a.status != "quoted" and a.id in outside else ""})
            for a in _load_aspects().aspects]


def check_aspects(items: list[CoverageAspect], claims: Iterable[str], sections: Iterable[str]) -> list[str]:
    """Every problem: an unknown claim or section, a duplicate id."""
    claims, sections, seen, problems = set(claims), set(sections), set(), []
    for a in items:
        if a.id in seen:
            problems.append(f"{a.id}: duplicate id")
        seen.add(a.id)
        problems += [f"{a.id}: unknown claim {c!r}" for c in a.claims if c not in claims]
        problems += [f"{a.id}: unknown section {s!r}" for s in a.sections if s not in sections]
    return problems


def to_markdown(items: list[CoverageAspect]) -> str:
    """The coverage table for docs/coverage.md."""
    out = ["# What the article covers", "",
           "Generated from `knowledge/coverage.yaml` by `make coverage-doc`; do not edit by hand. "
           "See `knowledge/coverage.CARD.md` for what the statuses mean and how they were decided.", "",
           "| aspect | status | cited by (claims) / mentioned in (sections) | note / the question that settles it |",
           "| --- | --- | --- | --- |"]
    for a in items:
        where = ", ".join(f"`{x}`" for x in (a.claims or a.sections))
        said = "; ".join(x for x in (a.note, a.question) if x)
        out.append(f"| {a.title_en} | {a.status.replace('_', ' ')} | {where} | {said} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":  # python -m agent.article.coverage > docs/coverage.md
    sys.stdout.write(to_markdown(aspects()))
