"""Judge the quotes a recommendation shows against the labelled set evals/quotes/claims.v1.yaml.

Each citation names the claim it backs (`Citation.claim`); the labelled set lists, per claim,
the article sentences that back it (acceptable, meant to be exhaustive) and tempting ones that
do not (rejected). A quote is judged by the labelled sentence that contains it, white space
aside, so a quote the advisor shortened at a clause boundary counts as its sentence.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import yaml
from pydantic import BaseModel

from agent.article.source import squash
from agent.types import Citation, Recommendation

LABELS = Path(__file__).resolve().parent / "quotes" / "claims.v1.yaml"


class QuoteLabels:
    """The labelled claims, with sentences squashed once for containment matching."""

    def __init__(self, path: Path = LABELS):
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        self.version = data.get("version", Path(path).stem)
        self.claims = {c["id"]: ([squash(s) for s in c.get("acceptable", [])],
                                 [squash(s) for s in c.get("rejected", [])]) for c in data["claims"]}

    def verdict(self, claim: Optional[str], quote: str) -> str:
        """acceptable, rejected, not_listed (claim labelled, quote in neither) or unlabelled."""
        if not claim or claim not in self.claims:
            return "unlabelled"
        acceptable, rejected = self.claims[claim]
        q = squash(quote)
        if not q:
            return "not_listed"
        # Rejected first: a short quote inside both kinds of sentence is not evidence of relevance.
        if any(q in s for s in rejected):
            return "rejected"
        return "acceptable" if any(q in s for s in acceptable) else "not_listed"


def shown_citations(rec: Recommendation) -> Iterator[Citation]:
    """Every citation a recommendation shows once: all nested ones, not the top-level list repeating them."""
    for name in type(rec).model_fields:
        if name != "citations":
            yield from _walk(getattr(rec, name))


def _walk(node) -> Iterator[Citation]:
    # Generic on purpose: a new cited part of the advice (another list of reasons) is counted
    # without changes here.
    if isinstance(node, Citation):
        yield node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _walk(getattr(node, name))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _walk(item)
    elif isinstance(node, dict):
        for item in node.values():
            yield from _walk(item)


def judge(rec: Optional[Recommendation], labels: QuoteLabels) -> dict:
    """A case's quote verdicts (in showing order) and the shown quotes that are not acceptable."""
    if rec is None:
        return {"quote_verdicts": [], "irrelevant_quotes": []}
    verdicts, bad = [], []
    for c in shown_citations(rec):
        v = labels.verdict(c.claim, c.quote)
        verdicts.append(v)
        if v != "acceptable":
            bad.append({"claim": c.claim, "verdict": v, "section_id": c.section_id, "quote": c.quote})
    return {"quote_verdicts": verdicts, "irrelevant_quotes": bad}
