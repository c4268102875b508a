"""What an engine must do, and how one is chosen.

The decision is always made by `policy.decide` in code; an engine only reads text into
a profile and puts words around the outcome. The offline engine needs no model server;
the LLM engine (agent.llm) talks to an OpenAI-compatible endpoint and falls back to the
offline engine, with a notice, whenever the endpoint fails.
"""
from __future__ import annotations

from typing import Iterator, Optional, Protocol

from ..types import Lang, Profile, Reading, Recommendation


class Engine(Protocol):
    """What an engine does for the advisor: read, ask, write."""

    name: str

    def read(self, text: str, lang: Lang, asked: Optional[str] = None) -> Reading:
        """Read free text (a description, or the answer to the question about `asked`) into a Reading."""

    def extract(self, text: str, lang: Lang, asked: Optional[str] = None) -> Profile:
        """Read free text (a description, or the answer to the question about `asked`)."""

    def phrase_question(self, dimension: str, lang: Lang, profile: Profile) -> str:
        """The next question about `dimension`, in the user's language."""

    def write_advice(self, rec: Recommendation) -> Iterator[str]:
        """Prose advice for a finished recommendation, streamed in pieces (may be empty)."""

    def drain_notices(self) -> list[str]:
        """Notices raised since the last call (e.g. 'LLM unreachable, used offline')."""
