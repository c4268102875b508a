"""Block Kit renderings for the Slack bot: questions with answer buttons, the advice, citations.

Pure functions from the advisor's types to Slack message payloads (lists of blocks), so they
can be tested without Slack. Slack's limits are respected here: at most 50 blocks a message,
3000 characters a section, 2000 a button value, 150 a header or button label.
"""
from __future__ import annotations

import re
from typing import Optional

from ..types import CORE_DIMENSIONS, Citation, Reason, Recommendation, Turn
from ..wording import wording

# action_id prefixes; each button's id is unique within its message (e.g. "advisor_answer:yes").
ANSWER_ACTION = "advisor_answer"
WHY_ACTION = "advisor_why"
SHARE_ACTION = "advisor_share"
QUESTION_BLOCK = "advisor_q"  # block_id "advisor_q:<dimension>:<step>" marks which question the buttons answer

SECTION_MAX = 3000
HEADER_MAX = 150
MAX_REASONS = 15  # per list (reasons, caveats): keeps a message under Slack's 50 blocks

# What each answer button sends to Advisor.reply, per language.
# Button labels; questions that are not literally yes/no get labels that say what yes means.

_ICONS = {"yes": ":white_check_mark:", "no": ":x:", "unknown": ":grey_question:"}

# Slack's assistant surface (the AI-app side panel): the prompts offered when a thread opens
# (at most four; the language is not known yet, so both) and the status shown while it works.


def assistant_greeting(intros: dict[str, str]) -> str:
    """The first message of an assistant thread: the interview's intro in both languages."""
    return escape(intros["en"] + "\n" + intros["zh"])


def _words():
    return wording().slack


def labels(lang: str) -> dict[str, str]:
    """The Slack labels in `lang` (English for a language without its own)."""
    table = _words().labels
    return table.get(lang, table["en"])


def answer_values(lang: str) -> dict[str, str]:
    """What each answer button sends to Advisor.reply, in `lang`."""
    table = _words().answer_values
    return table.get(lang, table["en"])


def suggested_prompts() -> list[dict]:
    """The prompts Slack's assistant panel offers when a thread opens (both languages)."""
    return [p.model_dump() for p in _words().suggested_prompts]


def prompts_title() -> str:
    return _words().prompts_title


def status(lang: str) -> str:
    """The assistant status line shown while the advisor works."""
    return _words().status.get(lang, _words().status["en"])


def escape(text: str) -> str:
    """Text made safe for mrkdwn: Slack's three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _blockquote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines() if line.strip()) or "> "


def _section(text: str, accessory: Optional[dict] = None, block_id: Optional[str] = None) -> dict:
    block = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_MAX)}}
    if accessory:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id
    return block


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_MAX)}]}


def _button(text: str, action_id: str, value: str, style: Optional[str] = None) -> dict:
    b = {"type": "button", "text": {"type": "plain_text", "text": clip(text, 75), "emoji": True},
         "action_id": action_id, "value": value}
    if style:
        b["style"] = style
    return b


# --------------------------------------------------------------------------- interview

def _yes_no_labels(lang: str, dimension: Optional[str]) -> tuple[str, str]:
    table = _words().answer_labels
    table = table.get(lang, table["en"])
    return tuple(table.get(dimension) or table["any"])


def answer_label(lang: str, dimension: Optional[str], value: str) -> str:
    """The button label that sent `value` (for the "X answered: …" line)."""
    vals = answer_values(lang)
    yes, no = _yes_no_labels(lang, dimension)
    return {vals["yes"]: yes, vals["no"]: no, vals["unknown"]: labels(lang)["unknown"],
            vals["finish"]: labels(lang)["finish"]}.get(value, value)


def question_blocks(turn: Turn, lang: str, step: int) -> list[dict]:
    """A question, why it matters, and yes / no / don't know / just recommend buttons."""
    q = turn.question
    dim = q.dimension if q else None
    vals, L = answer_values(lang), labels(lang)
    yes, no = _yes_no_labels(lang, dim)
    blocks = [_section(f"*{escape(turn.text)}*")]
    if q and q.why:
        blocks.append(_context(escape(q.why)))
    blocks.append({"type": "actions", "block_id": f"{QUESTION_BLOCK}:{dim}:{step}", "elements": [
        _button(yes, f"{ANSWER_ACTION}:yes", vals["yes"], "primary"),
        _button(no, f"{ANSWER_ACTION}:no", vals["no"]),
        _button(L["unknown"], f"{ANSWER_ACTION}:unknown", vals["unknown"]),
        _button(L["finish"], f"{ANSWER_ACTION}:finish", vals["finish"]),
    ]})
    blocks.append(_context(L["hint"]))
    return blocks


def parse_question_block(block_id: str) -> tuple[Optional[str], int]:
    """(dimension, step) from a question's block_id; (None, -1) when it is not one."""
    m = re.fullmatch(rf"{QUESTION_BLOCK}:([a-z_]+):(\d+)", block_id or "")
    return (m.group(1), int(m.group(2))) if m else (None, -1)


def answered_blocks(question: str, answer: str, user: str, lang: str) -> list[dict]:
    """The question message once answered: the buttons replaced by who answered what."""
    return [_section(f"*{escape(question)}*"),
            _context(labels(lang)["answered"].format(user=user, answer=escape(answer)))]


# --------------------------------------------------------------------------- advice

def _heading(c: Citation, lang: str) -> str:
    head = c.heading_path[-1] if c.heading_path else c.section_id
    return f"{head} ({c.title_en})" if lang == "en" and c.title_en else head


def _reason_text(r: Reason, lang: str) -> str:
    lines = [f"• {escape(r.text)}"]
    for c in r.citations:
        lines.append(_blockquote(f"「{escape(c.quote)}」"))
        lines.append(f"> — _{escape(_heading(c, lang))}_")
    return "\n".join(lines)


def _profile_fields(rec: Recommendation) -> list[dict]:
    names = wording().dimension_names[rec.lang]
    dims = list(CORE_DIMENSIONS) + [d for d, v in rec.profile.known().items()
                                    if d not in CORE_DIMENSIONS and v.value == "yes"]
    fields = []
    for dim in dims[:10]:  # Slack allows 10 fields a section
        dv = rec.profile.get(dim)
        fields.append({"type": "mrkdwn",
                       "text": f"*{escape(names.get(dim, dim))}*\n{_ICONS[dv.value]} {dv.value} · _{dv.source}_"})
    return fields


def recommendation_blocks(rec: Recommendation, session_id: str, *, advice_text: str = "",
                          shareable: bool = False, shared_by: Optional[str] = None, full: bool = False) -> list[dict]:
    """The advice, short like the terminal's default view (decision, one cited line per reason with a
    "why?" button, why not the others, what would change it, the next question); `full` adds the
    profile, caveats, readiness and every open question."""
    w, L, S = wording(), labels(rec.lang), wording().story_labels[rec.lang]
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                    "text": clip(w.decision_names[rec.lang][rec.decision], HEADER_MAX)}},
        _section(escape(rec.headline or w.headline[rec.lang][rec.decision])),
        _context(f"{L['confidence']} {rec.confidence:.2f} · {L['engine']} {escape(rec.engine)}"
                 + (" · " + L["shared_by"].format(user=shared_by) if shared_by else "")),
    ]
    if advice_text.strip():
        blocks.append(_section(escape(advice_text.strip())))
    if full:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{L['profile']}*"},
                       "fields": _profile_fields(rec)})
    lists = [("r", L["reasons"], rec.rationale)] + ([("c", L["caveats"], rec.caveats)] if full else [])
    for kind, title, items in lists:
        if not items:
            continue
        blocks += [{"type": "divider"}, _section(f"*{title}*")]
        for i, r in enumerate(items[:MAX_REASONS]):
            why = _button(L["why_button"], f"{WHY_ACTION}:{kind}{i}", f"{session_id}:{kind}:{i}") if r.citations else None
            blocks.append(_section(_reason_text(r, rec.lang), accessory=why))
    story = [(S["why_not"], [f"✗ {escape(x.text)}" for x in rec.why_not]),
             (S["change"], [f"→ {escape(f.text)}" for f in rec.what_would_change])]
    if full:
        story.append((S["readiness"], [f"• {escape(r.text)}" + (f" _{escape(r.question)}_" if r.question else "")
                                       for r in rec.readiness]))
        story.append((L["open"], [f"• {escape(q.question)} — _{escape(q.why)}_" for q in rec.open_questions]))
    else:
        story.append((S["next"], [f"? {escape(q.question)}" for q in rec.open_questions[:1]]))
    for title, lines in story:
        if lines:
            blocks += [{"type": "divider"}, _section(f"*{title}*\n" + "\n".join(lines))]
    if rec.notices:
        blocks.append(_context("\n".join(f":warning: {escape(n)}" for n in rec.notices)))
    if shareable:
        blocks.append({"type": "actions", "elements": [
            _button(L["share"], SHARE_ACTION, session_id, "primary")]})
    return blocks


def recommendation_text(rec: Recommendation) -> str:
    """The plain-text fallback (notifications, screen readers)."""
    w = wording()
    return f"{w.decision_names[rec.lang][rec.decision]}: {rec.headline or w.headline[rec.lang][rec.decision]}"


def parse_why_value(value: str) -> tuple[str, str, int] | None:
    """(session_id, kind, index) from a "why?" button's value; None when malformed."""
    m = re.fullmatch(r"([0-9a-f]+):([rc]):(\d+)", value or "")
    return (m.group(1), m.group(2), int(m.group(3))) if m else None


def citation_blocks(reason: Reason, lang: str) -> list[dict]:
    """A reason's full citations: heading path, verbatim quote, English title and summary."""
    L = labels(lang)
    blocks = [_context(L["citation_of"].format(reason=escape(clip(reason.text, 300))))]
    for c in reason.citations[:10]:
        path = " › ".join(c.heading_path) or c.section_id
        parts = [f"*{escape(path)}*", _blockquote(escape(c.quote))]
        if c.title_en:
            parts.append(f"*{escape(c.title_en)}*")
        if c.summary_en:
            parts.append(escape(c.summary_en))
        blocks.append(_section("\n".join(parts)))
        blocks.append(_context(f"`{escape(c.section_id)}`"))
    return blocks


def citation_text(reason: Reason) -> str:
    c = reason.citations[0] if reason.citations else None
    return f"「{c.quote}」 — {' › '.join(c.heading_path)}" if c else reason.text
