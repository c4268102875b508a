"""The article as knowledge: the verbatim source, its hand-made section map, and the body.

Ingestion locates each mapped heading, in order, in the scraped page; a section's text
runs to the next heading. Page chrome before the first heading and everything after the
map's `body_end` marker (toolbar words, the repeated introduction, the comment widget)
never becomes knowledge.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from ..yamlio import safe_load
from pydantic import ValidationError

from ..errors import UserError
from ..types import Section, SectionMap

KNOWLEDGE_PACKAGE = "knowledge"
SECTION_MAP_FILE = "sections.yaml"


def knowledge_dir() -> Path:
    """Folder holding the article and its section map (inside the installed package)."""
    return Path(str(resources.files(KNOWLEDGE_PACKAGE)))


def read_text_strict(path: Path) -> str:
    """Read a UTF-8 file, keeping its exact characters (no newline translation)."""
    with open(path, encoding="utf-8", newline="") as fh:
        return fh.read()


def load_section_map(path: Path | None = None) -> SectionMap:
    """Load and validate the section map; a bad map is a one-line UserError."""
    path = path or knowledge_dir() / SECTION_MAP_FILE
    try:
        raw = safe_load(read_text_strict(path))
        return SectionMap.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        first = str(exc).splitlines()
        raise UserError(f"{path}: invalid section map: {' '.join(first[:3])}") from exc


def _find_line(source: str, text: str, start: int) -> int:
    """Offset of the first line at or after `start` that is exactly `text`."""
    for m in re.finditer(r"^" + re.escape(text) + r"[ \t]*$", source[start:], flags=re.M):
        return start + m.start()
    return -1


def _find_line_prefix(source: str, text: str, start: int) -> int:
    m = re.search(r"^" + re.escape(text), source[start:], flags=re.M)
    return start + m.start() if m else -1


def _strip_span(source: str, start: int, end: int) -> tuple[int, int]:
    while start < end and source[start].isspace():
        start += 1
    while end > start and source[end - 1].isspace():
        end -= 1
    return start, end


@dataclass(frozen=True)
class Article:
    """The located article: source text, section map and sections with their spans."""

    source: str
    section_map: SectionMap
    sections: tuple[Section, ...]
    body_start: int
    body_end: int

    @property
    def by_id(self) -> dict[str, Section]:
        return {s.id: s for s in self.sections}

    def section(self, section_id: str) -> Section:
        try:
            return self.by_id[section_id]
        except KeyError:
            raise UserError(f"unknown section id {section_id!r}") from None

    def body_text(self) -> str:
        """The article's body, headings included, chrome and duplicates excluded."""
        return self.source[self.body_start:self.body_end]

    def fingerprint(self) -> str:
        """Hash of the source and the section map: a change to either rebuilds the index."""
        h = hashlib.sha256(self.source.encode("utf-8"))
        h.update(self.section_map.model_dump_json().encode("utf-8"))
        return h.hexdigest()[:16]


def locate(source: str, smap: SectionMap) -> Article:
    """Find every mapped heading in order and cut the source into sections."""
    cursor = _find_line(source, smap.title, 0)
    if cursor < 0:
        raise UserError(f"article title {smap.title!r} not found in the source")
    starts: list[tuple[int, int]] = []  # (heading offset, body offset)
    for spec in smap.sections:
        if spec.inline_heading:
            pos = _find_line_prefix(source, spec.heading, cursor)
            body = pos
        else:
            pos = _find_line(source, spec.heading, cursor)
            body = pos + len(spec.heading)
        if pos < 0:
            raise UserError(f"section {spec.id}: heading {spec.heading!r} not found in order")
        starts.append((pos, body))
        cursor = body if not spec.inline_heading else pos + len(spec.heading)
    end = source.find(smap.body_end, cursor)
    if end < 0:
        raise UserError(f"body end marker {smap.body_end!r} not found after the last section")

    by_id = {s.id: s for s in smap.sections}
    sections = []
    for i, spec in enumerate(smap.sections):
        body_from = starts[i][1]
        body_to = starts[i + 1][0] if i + 1 < len(starts) else end
        a, b = _strip_span(source, body_from, body_to)
        path, node = [], spec
        while node is not None:
            path.append(node.heading)
            node = by_id.get(node.parent) if node.parent else None
        sections.append(Section(**spec.model_dump(), heading_path=path[::-1],
                                start=a, end=b, text=source[a:b]))
    body_start = starts[0][0]
    return Article(source=source, section_map=smap, sections=tuple(sections),
                   body_start=body_start, body_end=_strip_span(source, body_start, end)[1])


@lru_cache(maxsize=2)
def load_article(directory: str | None = None) -> Article:
    """Load the committed article and section map (cached per process)."""
    folder = Path(directory) if directory else knowledge_dir()
    smap = load_section_map(folder / SECTION_MAP_FILE)
    source = read_text_strict(folder / smap.source)
    return locate(source, smap)


_WS = re.compile(r"\s+")


def squash(text: str) -> str:
    """Remove all white space: quotes are verbatim 'white space aside'."""
    return _WS.sub("", text)


class QuoteChecker:
    """Checks that a quote is a verbatim span of the article body (white space aside)."""

    def __init__(self, article: Article):
        self._body = squash(article.body_text())
        self._sections = {s.id: squash(s.text) for s in article.sections}

    def is_verbatim(self, quote: str, section_id: str | None = None) -> bool:
        q = squash(quote)
        if len(q) < 4:
            return False
        haystack = self._sections.get(section_id, "") if section_id else self._body
        return q in haystack
