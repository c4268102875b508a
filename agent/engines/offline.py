"""The offline engine: the learned reader and template wording, no model server needed."""
from __future__ import annotations

from functools import cached_property
from typing import Iterator, Optional

from ..reading import Reader
from ..types import Lang, Profile, Reading, Recommendation
from ..wording import wording


class OfflineEngine:
    """Reads text with the learned reader and words questions from prompts/offline.v1.yaml."""

    name = "offline"

    def __init__(self, reader: Optional[Reader] = None) -> None:
        self._reader = reader
        self._notices: list[str] = []

    @cached_property
    def reader(self) -> Reader:
        if self._reader is not None:
            return self._reader
        from ..article.embeddings import shared_e5
        from ..reading.learned import LearnedReader  # loads numpy weights: only when first read

        shared_e5()  # the encoder then shares the search model, loaded without its unused sparse head
        return LearnedReader()

    def read(self, text: str, lang: Lang, asked: Optional[str] = None) -> Reading:
        return self.reader.read(text, asked=asked, lang=lang)

    def extract(self, text: str, lang: Lang, asked: Optional[str] = None) -> Profile:
        return self.read(text, lang, asked).profile

    def phrase_question(self, dimension: str, lang: Lang, profile: Profile) -> str:
        return getattr(wording().questions[dimension], lang).q

    def write_advice(self, rec: Recommendation) -> Iterator[str]:
        return iter(())  # the structured rendering is the offline advice

    def drain_notices(self) -> list[str]:
        out, self._notices = self._notices, []
        return out
