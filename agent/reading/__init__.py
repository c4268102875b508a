"""Reading: a person's text in, a `Reading` (profile, evidence, roles, contradictions) out.

Every reader honours one contract, `Reader.read(text, asked=None, lang=None)`: `asked` is the
dimension of the question being answered, if the text is an interview answer, so that a bare
"yes" answers only that question.
"""
from __future__ import annotations

from typing import Optional, Protocol

from ..types import Reading


class Reader(Protocol):
    """Anything that turns text into a Reading."""

    name: str

    def read(self, text: str, asked: Optional[str] = None, lang: Optional[str] = None) -> Reading:
        """Read `text` (an answer to the question on `asked`, if given)."""
        ...


__all__ = ["Reader", "Reading"]
