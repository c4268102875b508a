"""Cutting a text into clauses: the unit every reader head and rule looks at.

Cuts are made at sentence ends, line breaks and bullets, semicolons, commas and the
conjunctions that turn an idea ("but", "although", "但是", "不过"). Pieces too short to say
anything on their own stay with their neighbour. Offsets point into the original text, so
evidence is always quoted verbatim.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# A cut is placed *after* a match of _END (the punctuation stays with the clause before it)
# or *before* a match of _TURN (the conjunction opens the next clause).
_END = re.compile(r"(?:(?<!\d)\.|[!?。！？；;，,、：:])[.!?。！？；;，,、：:]*[\"'”’)）]*(?=\s|[^\x00-\x7f]|$)|\n+|[.!?](?=[A-Z])")
_TURN = re.compile(r"\s(?=(?:but|although|though|whereas|while|however|except|unless|yet|so that|because)\b)"
                   r"|(?=但是|不过|然而|可是|但(?![是])|而且|并且|因为|所以|否则|除非)", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)、]|[a-z][.)]|[（(]?[一二三四五六七八九十\d]+[)）、.])\s*")
_SENTENCE_END = re.compile(r"[.!?。！？]+[\"'”’)）]*\s*$")
_WORD = re.compile(r"[A-Za-z0-9]+|[\u3400-\u9fff]")
MIN_UNITS = 3  # fewer words (or CJK characters) than this cannot carry a fact alone
MAX_CHARS = 400  # a longer run without punctuation is cut at spaces so reading stays linear


@dataclass(frozen=True)
class Span:
    """A clause: text[start:end], white space trimmed."""

    start: int
    end: int
    text: str


def _units(s: str) -> int:
    return len(_WORD.findall(s))


def _cut_points(text: str) -> list[int]:
    points = {0, len(text)}
    for m in _END.finditer(text):
        points.add(m.end())
    for m in _TURN.finditer(text):
        points.add(m.start() if not text[m.start()].isspace() else m.start() + 1)
    return sorted(points)


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    m = _BULLET.match(text[a:b])
    if m and m.end() < b - a:
        a += m.end()
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _long(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """Split an over-long piece at white space, MAX_CHARS at a time."""
    out = []
    while b - a > MAX_CHARS:
        cut = text.rfind(" ", a + MAX_CHARS // 2, a + MAX_CHARS)
        cut = cut if cut > a else a + MAX_CHARS
        out.append((a, cut))
        a = cut
    out.append((a, b))
    return out


def clauses(text: str) -> list[Span]:
    """The clauses of `text`, in order, with offsets into it."""
    pts = _cut_points(text)
    pieces: list[tuple[int, int]] = []
    for a, b in zip(pts, pts[1:]):
        a, b = _trim(text, a, b)
        if b > a:
            pieces.extend(_long(text, a, b))
    merged: list[list[int]] = []
    carry: list[int] | None = None  # a short piece at a sentence start waits for the next piece
    for a, b in pieces:
        if carry is not None:
            a, carry = carry[0], None
        short = _units(text[a:b]) < MIN_UNITS
        prev_open = bool(merged) and not _SENTENCE_END.search(text[merged[-1][0]:merged[-1][1]]) \
            and "\n" not in text[merged[-1][1]:a] and b - merged[-1][0] <= MAX_CHARS
        if prev_open and (short or _units(text[merged[-1][0]:merged[-1][1]]) < MIN_UNITS):
            merged[-1][1] = b  # a too-short piece stays with the clause before it in its sentence
        elif short and not _SENTENCE_END.search(text[a:b]):
            carry = [a, b]  # "Plain, straightforward answers…": joins what follows
        else:
            merged.append([a, b])
    if carry is not None:
        merged.append(carry)
    return [Span(a, b, text[a:b]) for a, b in merged]


def sentence_of(text: str, span: Span) -> tuple[int, int]:
    """The sentence (between sentence ends or line breaks) that holds `span`."""
    a = max(text.rfind(ch, 0, span.start) for ch in ".!?。！？\n") + 1
    ends = [i for i in (text.find(ch, span.end) for ch in ".!?。！？\n") if i != -1]
    return a, (min(ends) + 1 if ends else len(text))
