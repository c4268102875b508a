"""Versioned prompt files (prompts/NAME.vN.md) and the message lists built from them.

Each message list starts with the static system prompt (so endpoints can cache it) and
ends with one user message that holds only delimited data blocks.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib.resources import files
from typing import Optional

from ..types import Profile, Recommendation, SearchResult

VERSIONS = {"extract": "v1", "extract_repair": "v1", "question": "v1", "advice": "v1"}

# Every tag name used to delimit data: text that imitates one of them is defused.
_TAGS = ("user_text", "user_words", "asked_dimension", "dimension", "meaning", "lang",
         "reference_question", "known", "decision", "confidence", "decided_by", "profile",
         "reasons", "open_questions", "quotes", "quote", "passages", "passage")
_TAG_RE = re.compile(r"<(/?\s*(?:%s)\b)" % "|".join(_TAGS), re.IGNORECASE)


@lru_cache(maxsize=None)
def load(name: str) -> str:
    """The text of prompt `name` at its current version."""
    return (files("prompts") / f"{name}.{VERSIONS[name]}.md").read_text(encoding="utf-8")


def fill(template: str, **values: str) -> str:
    """Replace {{key}} placeholders; a placeholder left unfilled is a bug."""
    for key, value in values.items():
        template = template.replace("{{%s}}" % key, value)
    left = re.findall(r"\{\{(\w+)\}\}", template)
    if left:
        raise KeyError(f"prompt placeholders not filled: {', '.join(left)}")
    return template


def defuse(text: str) -> str:
    """Stop data from closing or opening our delimiters: '<' of a look-alike tag becomes '‹'."""
    return _TAG_RE.sub(lambda m: "‹" + m.group(1), text)


def block(tag: str, text: str, *, nested: bool = False, **attrs: str) -> str:
    """One delimited data block; `nested` text is made of blocks already defused."""
    extra = "".join(f' {k}="{defuse(str(v)).replace(chr(34), "")}"' for k, v in attrs.items())
    return f"<{tag}{extra}>\n{text if nested else defuse(text)}\n</{tag}>"


# --------------------------------------------------------------------------- extraction

@lru_cache(maxsize=None)
def extract_system() -> str:
    from ..reading.llm import Extraction  # the schema is part of the static prompt

    schema = json.dumps(Extraction.model_json_schema(), ensure_ascii=False, sort_keys=True)
    return fill(load("extract"), schema=schema)


def extract_messages(text: str, asked: Optional[str] = None) -> list[dict]:
    parts = [block("asked_dimension", asked)] if asked else []
    parts.append(block("user_text", text))
    return [{"role": "system", "content": extract_system()},
            {"role": "user", "content": "\n".join(parts)}]


def repair_messages(messages: list[dict], bad_reply: str, error: str) -> list[dict]:
    """A new message list: the original exchange, the bad reply and what was wrong with it."""
    return [*messages, {"role": "assistant", "content": bad_reply},
            {"role": "user", "content": fill(load("extract_repair"), error=error)}]


# --------------------------------------------------------------------------- questions

def _known(profile: Profile) -> str:
    lines = []
    for dim, dv in profile.known().items():
        words = f" {block('user_words', dv.evidence)}" if dv.evidence else ""
        lines.append(f"- {dim}: {dv.value} ({dv.source}){words}")
    return "\n".join(lines) or "(nothing yet)"


def question_messages(dimension: str, meaning: str, lang: str, reference: str,
                      profile: Profile) -> list[dict]:
    data = "\n".join([block("dimension", dimension), block("meaning", meaning),
                      block("lang", lang), block("reference_question", reference),
                      block("known", _known(profile), nested=True)])
    return [{"role": "system", "content": load("question")}, {"role": "user", "content": data}]


# --------------------------------------------------------------------------- advice

def advice_messages(rec: Recommendation, passages: list[SearchResult]) -> list[dict]:
    reasons = "\n".join(f"- {r.dimension}: {r.text}" for r in rec.rationale) or "(none)"
    opens = "\n".join(f"- {q.dimension}: {q.question}" for q in rec.open_questions) or "(none)"
    quotes = "\n".join(block("quote", c.quote, n=str(i), section=c.section_id)
                       for i, c in enumerate(rec.citations, 1)) or "(none)"
    found = "\n".join(block("passage", p.text, section=p.section_id) for p in passages) or "(none)"
    data = "\n".join([
        block("decision", rec.decision), block("confidence", f"{rec.confidence:.2f}"),
        block("decided_by", ", ".join(rec.decided_by) or "(not recorded)"),
        block("lang", rec.lang), block("profile", _known(rec.profile), nested=True),
        block("reasons", reasons), block("open_questions", opens),
        block("quotes", quotes, nested=True), block("passages", found, nested=True),
    ])
    return [{"role": "system", "content": load("advice")}, {"role": "user", "content": data}]


@lru_cache(maxsize=None)
def meanings() -> dict[str, str]:
    """What yes means for each dimension, read from the extraction prompt (one source)."""
    section = load("extract").split("## Dimensions", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"^- (\w+): (.*?)(?=^- |\Z)", section, re.MULTILINE | re.DOTALL)
    return {dim: " ".join(text.split()) for dim, text in found}
