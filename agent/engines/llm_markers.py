"""Keep only citation markers that map to a verified quote, in a stream of text pieces."""
from __future__ import annotations

import re

# [1], [1, 2], [1][2] and the full-width 【1】 / ［1］ that Chinese text often uses.
# The spaces before a marker (not line breaks) go with it, so a dropped marker leaves no gap.
_MARKER = re.compile(r"([ \t]*)[\[【［]\s*(\d+(?:\s*[,，、]\s*\d+)*)\s*[\]】］]")
# A tail that may still grow into a marker once the next piece arrives.
_OPEN_TAIL = re.compile(r"[ \t]*[\[【［][\d\s,，、]*$")


def clean(text: str, n_citations: int) -> str:
    """Rewrite markers as [n]; drop numbers that are not 1..n_citations, and empty markers."""
    def keep(m: re.Match) -> str:
        nums = [int(x) for x in re.split(r"\s*[,，、]\s*", m.group(2).strip())]
        good = [n for n in nums if 1 <= n <= n_citations]
        return m.group(1) + "".join(f"[{n}]" for n in dict.fromkeys(good)) if good else ""

    return _MARKER.sub(keep, text)


class MarkerFilter:
    """Feed streamed pieces, get cleaned text; holds back a possible half-marker."""

    def __init__(self, n_citations: int, max_hold: int = 24):
        self.n = n_citations
        self.max_hold = max_hold
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        m = _OPEN_TAIL.search(text)
        if m and len(text) - m.start() <= self.max_hold:
            self._held, text = text[m.start():], text[:m.start()]
        else:
            self._held = ""
        return clean(text, self.n)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return clean(text, self.n)
