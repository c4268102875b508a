"""Verified citations: a short verbatim quote from the section that backs a reason.

The section comes from the section map's tags (the reason's dimension); the quote is the
section's sentence closest to the reason, found through the index's sentence vectors.
Every quote is checked against the article before it is returned: a quote that is not a
verbatim span of its section is dropped, never shown.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .knowledge import QuoteChecker
from .retrieval import KnowledgeIndex
from .types import Citation

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

    def cite(self, section_id: str, about: str) -> Citation | None:
        """A verified citation of `section_id` for a reason `about` something, or None."""
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

    def verified(self, citation: Citation) -> Citation | None:
        """The citation if its quote is a verbatim span of its section, else None."""
        return citation if self.checker.is_verbatim(citation.quote, citation.section_id) else None
