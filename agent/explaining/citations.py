"""Verified citations: a short verbatim quote from the article that backs a reason.

A reason the advisor gives is a claim with a fixed quote (`cite_claim`, from knowledge/quotes.yaml);
a free question (MCP's explain) gets the section's sentence closest to it (`cite`). Every quote
is checked against the article before it is returned: one that is not a verbatim span of its
section is dropped, never shown.
"""
from __future__ import annotations

import re
import threading
from functools import lru_cache

from ..article.quotes import load_quote_map
from ..article.source import QuoteChecker
from ..article.retrieval import KnowledgeIndex
from ..types import Citation

MAX_QUOTE = 120
_CLAUSE_END = re.compile(r"[,，;；:：]")


def shorten(quote: str, limit: int = MAX_QUOTE) -> str:
    """Cut a long sentence at a clause boundary; the result is still a verbatim span."""
    if len(quote) <= limit:
        return quote
    cut = [m.end() for m in _CLAUSE_END.finditer(quote) if 20 <= m.end() <= limit]
    return quote[: cut[-1] - 1] if cut else quote[:limit]


class Citer:
    """Finds and verifies quotes for reasons."""

    def __init__(self, index: KnowledgeIndex):
        self.index = index
        self.article = index.article
        self.checker = QuoteChecker(index.article)
        self._cite = lru_cache(maxsize=512)(self._cite_uncached)
        # Worker threads share one Citer; the embedder under it is not known to be thread-safe.
        self._lock = threading.Lock()

    def cite(self, section_id: str, about: str) -> Citation | None:
        """A verified citation of `section_id` for a reason `about` something, or None."""
        with self._lock:
            return self._cite(section_id, about)

    def _cite_uncached(self, section_id: str, about: str) -> Citation | None:
        section = self.article.by_id.get(section_id)
        if section is None:
            return None
        sentence = self.index.best_sentence(section_id, about)
        if sentence is None:
            return None
        quote = shorten(sentence.text)
        return self.verified(Citation(section_id=section_id, heading_path=section.heading_path,
                                      quote=quote, title_en=section.title_en,
                                      summary_en=section.summary_en))

    def cite_claim(self, claim: str) -> Citation | None:
        """The verified quote that backs `claim` (an id in knowledge/quotes.yaml), or None."""
        spec = load_quote_map().claims.get(claim)
        section = self.article.by_id.get(spec.section) if spec else None
        if spec is None or section is None:
            return None
        return self.verified(Citation(section_id=section.id, heading_path=section.heading_path,
                                      quote=spec.quote, title_en=section.title_en,
                                      summary_en=section.summary_en, claim=claim))

    def verified(self, citation: Citation) -> Citation | None:
        """The citation if its quote is a verbatim span of its section, else None."""
        return citation if self.checker.is_verbatim(citation.quote, citation.section_id) else None
