"""Verified citations: the verbatim quote from the article that backs a reason.

Each reason the advisor gives is a claim with a fixed quote (knowledge/quotes.yaml). Every
quote is checked against the article before it is returned: one that is not a verbatim span
of its section is dropped, never shown.
"""
from __future__ import annotations

from ..article.quotes import load_quote_map
from ..article.source import Article, QuoteChecker
from ..types import Citation


class Citer:
    """Finds and verifies the quote for each claim."""

    def __init__(self, article: Article):
        self.article = article
        self.checker = QuoteChecker(article)

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
