"""The offline engine: cue extraction and template wording, no model server needed."""
from __future__ import annotations

from typing import Iterator, Optional

from .extract import extract, read_answer
from .types import Lang, Profile, Recommendation
from .wording import wording


class OfflineEngine:
    """Reads text with the cue extractor and words questions from prompts/offline.v1.yaml."""

    name = "offline"

    def __init__(self) -> None:
        self._notices: list[str] = []

    def extract(self, text: str, lang: Lang, asked: Optional[str] = None) -> Profile:
        return (read_answer(text, asked) if asked else extract(text)).profile

    def phrase_question(self, dimension: str, lang: Lang, profile: Profile) -> str:
        return getattr(wording().questions[dimension], lang).q

    def write_advice(self, rec: Recommendation) -> Iterator[str]:
        return iter(())  # the structured rendering is the offline advice

    def drain_notices(self) -> list[str]:
        out, self._notices = self._notices, []
        return out
