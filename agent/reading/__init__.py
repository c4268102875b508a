"""Reading: a person's text in, a `Reading` (profile, evidence, roles, contradictions) out.

Every reader honours one contract, `Reader.read(text, asked=None, lang=None)`: `asked` is the
dimension of the question being answered, if the text is an interview answer, so that a bare
"yes" answers only that question.
"""
from __future__ import annotations

from typing import Optional, Protocol

from ..types import Profile, Reading


class Reader(Protocol):
    """Anything that turns text into a Reading."""

    name: str

    def read(self, text: str, asked: Optional[str] = None, lang: Optional[str] = None) -> Reading:
        """Read `text` (an answer to the question on `asked`, if given)."""
        ...


def from_profile(profile: Profile, text: str, asked: Optional[str], reader: str) -> Reading:
    """A Reading around a profile another reader (an LLM) produced; the precise rules add the rest."""
    from . import rules
    from .clauses import clauses

    dropped = [c.text for c in clauses(text) if rules.is_instruction(c.text)]
    reading = Reading(profile=profile, instructions_dropped=dropped, reader=reader,
                      answer=rules.bare_answer(text) if asked else None)
    reading.on_topic = bool(reading.core_known())
    return reading


__all__ = ["Reader", "Reading", "from_profile"]
