"""Renderings of a recommendation: terminal (rich), markdown and JSON."""
from __future__ import annotations

import re
from typing import Optional

from rich.cells import cell_len, set_cell_size
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..types import (CORE_DIMENSIONS, Citation, CoverageMap, ReadinessItem, Reason, Recommendation,
                     SearchResponse)
from ..textproc import tokenize
from ..wording import wording

_COLOURS = {"rag": "cyan", "fine-tuning": "magenta", "hybrid": "green", "prompting": "yellow", "undecided": "red"}
WIDTH = 80  # the short view is laid out for an 80-column terminal


def to_json(rec: Recommendation) -> dict:
    """The DESIGN.md JSON shape (with a few additive keys)."""
    return rec.model_dump(mode="json")


def headline(rec: Recommendation) -> str:
    """The advice's headline (a recommendation saved before headlines were stored gets its decision's)."""
    return rec.headline or wording().headline[rec.lang][rec.decision]




def _cite_line(c: Citation, lang: str, seen: Optional[set] = None) -> str:
    """A quote with where it comes from; one already shown (in `seen`) is only pointed at."""
    if seen is not None:
        if (c.section_id, c.quote) in seen:
            return wording().labels.same_quote[lang].format(head=quote_heading(c, lang))
        seen.add((c.section_id, c.quote))
    head = " › ".join(c.heading_path)
    if lang == "en":
        return f"「{c.quote}」 — {head} ({c.title_en}). {c.summary_en}"
    return f"「{c.quote}」 —— {head}"


def quote_heading(c: Citation, lang: str) -> str:
    """The heading of the section a quote comes from (English title in English advice)."""
    if lang == "en" and c.title_en:
        return c.title_en
    return c.heading_path[-1] if c.heading_path else c.section_id


def first_sentence(text: str) -> str:
    """A reason's first sentence (its claim; the rest explains)."""
    m = re.search(r"(?<=[.。])\s+(?=[A-Z\"“])|(?<=。)", text)
    return text[: m.start()].strip() if m else text.strip()


def fit(text: str, width: int) -> str:
    """`text` cut to `width` terminal cells (CJK counts double), with an ellipsis when cut."""
    text = " ".join(text.split())
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, max(1, width - 1)).rstrip() + "…"


def _profile_rows(rec: Recommendation):
    """Table rows; a clause of the user's words already shown on an earlier row is not repeated."""
    names, said = wording().dimension_names[rec.lang], {}
    same = wording().story_labels[rec.lang]["same"]
    for dim, dv in rec.profile.known().items():
        if dim in CORE_DIMENSIONS or dv.value == "yes":
            evidence = dv.evidence
            if evidence and evidence in said:
                evidence = f"({same.format(dim=said[evidence])})"
            elif evidence:
                said[evidence] = names[dim]
            yield names[dim], dv.value, evidence, dv.source


def _readiness_line(item: ReadinessItem, lang: str) -> str:
    q = f" — {item.question}" if item.question else ""
    return f"[{wording().labels.readiness_status[lang][item.status]}] {item.text}{q}"


def to_markdown(rec: Recommendation, advice_text: str = "") -> str:
    """The recommendation as a markdown document: the full advice."""
    w, L, S = wording(), wording().labels.terminal[rec.lang], wording().story_labels[rec.lang]
    out = [f"# {w.decision_names[rec.lang][rec.decision]}", "", headline(rec), "",
           f"*{L['confidence']}: {rec.confidence:.2f} · {L['engine']}: {rec.engine}*", ""]
    if advice_text:
        out += [advice_text.strip(), ""]
    out += [f"## {L['profile']}", "", f"| {L['dimension']} | {L['value']} | {L['source']} | {L['evidence']} |",
            "| --- | --- | --- | --- |"]
    for name, value, evidence, source in _profile_rows(rec):
        out.append(f"| {name} | {value} | {source} | {evidence.replace('|', '/').replace(chr(10), ' ')} |")
    seen: set = set()  # each quote in full once
    for title, items in ((L["reasons"], rec.rationale), (S["why_not"], rec.why_not), (L["caveats"], rec.caveats)):
        if items:
            out += ["", f"## {title}", ""]
            for r in items:
                out.append(f"- {r.text}")
                out += [f"  > {_cite_line(c, rec.lang, seen)}" for c in r.citations]
    if rec.what_would_change:
        out += ["", f"## {S['change']}", ""] + [f"- {f.text}" for f in rec.what_would_change]
    cited = [r for r in rec.readiness if r.status != "outside_article"]
    outside = [r for r in rec.readiness if r.status == "outside_article"]
    if cited:
        out += ["", f"## {S['readiness']}", ""]
        for r in cited:
            out.append(f"- {_readiness_line(r, rec.lang)}")
            out += [f"  > {_cite_line(c, rec.lang, seen)}" for c in r.citations]
    if outside:
        out += ["", f"## {S['outside']}", ""] + [f"- {r.text} — {r.question}" for r in outside]
    if rec.open_questions:
        out += ["", f"## {L['open']}", ""] + [f"- {q.question} — {q.why}" for q in rec.open_questions]
    if rec.notices:
        out += [""] + [f"> {n}" for n in rec.notices]
    return "\n".join(out) + "\n"


def _line(console: Console, text: str, style: str = "", width: int = WIDTH) -> None:
    console.print(Text(fit(text, width), style=style), no_wrap=True, overflow="ellipsis", crop=True)


def render_terminal(rec: Recommendation, console: Console, advice_text: str = "", *, full: bool = False) -> None:
    """The recommendation in a terminal: a short view that fits 40 lines of 80 columns, or `full`."""
    w, L, S = wording(), wording().labels.terminal[rec.lang], wording().story_labels[rec.lang]
    colour = _COLOURS[rec.decision]
    head = Text.assemble((w.decision_names[rec.lang][rec.decision], f"bold {colour}"),
                         (f"   {L['confidence']} {rec.confidence:.2f} · {L['engine']} {rec.engine}", "dim"))
    console.print(Panel(Group(head, Text(headline(rec))), border_style=colour, width=min(console.width, WIDTH)))
    if advice_text:
        console.print(advice_text)
    if full:
        _render_full(rec, console)
    else:
        _render_short(rec, console)
    for n in rec.notices:
        _line(console, f"! {n}", "yellow")
    if not full:
        _line(console, S["more"], "dim")


def _render_short(rec: Recommendation, console: Console) -> None:
    """Decision (above), one line per reason with its quote's heading, why not, what would change it, next question."""
    L, S, width = wording().labels.terminal[rec.lang], wording().story_labels[rec.lang], min(console.width, WIDTH)
    if rec.rationale:
        console.print(Text(L["reasons"], style="bold underline"))
        shown: set[str] = set()  # each clause of the user's words once
        for r in rec.rationale[:6]:  # the reason on one line, the heading of its quote's section under it
            console.print(Text("• ") + Text(fit(short_reason(r, rec, shown), width - 2)), no_wrap=True, crop=True)
            if r.citations:
                console.print(Text("  ↳ " + fit(quote_heading(r.citations[0], rec.lang), width - 4), style="dim"),
                              no_wrap=True, crop=True)
    for title, lines, style in ((S["why_not"], [f"✗ {wn.text}" for wn in rec.why_not], ""),
                                (S["change"], [f"→ {f.text}" for f in rec.what_would_change[:3]], ""),
                                (S["next"], [f"? {q.question}" for q in rec.open_questions[:1]], "yellow")):
        if lines:
            console.print(Text(title, style="bold underline"))
            for line in lines:  # at most two lines each
                console.print(Text(fit(line, 2 * width - 4), style=style), width=width)


def short_reason(r: Reason, rec: Recommendation, shown: Optional[set[str]] = None) -> str:
    """A reason in a few words: the fact and the user's words for it (unless in `shown`), or its first sentence."""
    claim = r.citations[0].claim if r.citations else None
    dim, _, value = (claim or "").rpartition(".")
    shown = set() if shown is None else shown
    if dim in CORE_DIMENSIONS and value in ("yes", "no") and dim == r.dimension:
        names, dv = wording().dimension_names[rec.lang], rec.profile.get(dim)
        said = f" “{' '.join(dv.evidence.split())}”" if dv.evidence and dv.evidence not in shown else ""
        shown.add(dv.evidence)
        return f"{names[dim]}: {value}{said}"
    return first_sentence(r.text)


def _render_full(rec: Recommendation, console: Console) -> None:
    """Every part of the advice with every quote."""
    L, S = wording().labels.terminal[rec.lang], wording().story_labels[rec.lang]
    table = Table(title=L["profile"], show_lines=False, expand=True)
    for col in (L["dimension"], L["value"], L["source"], L["evidence"]):
        table.add_column(col, overflow="fold")
    for name, value, evidence, source in _profile_rows(rec):
        style = {"yes": "green", "no": "red"}.get(value, "")
        table.add_row(name, Text(value, style=style), Text(source, style="dim"), evidence)
    console.print(table)
    cited, seen = [r for r in rec.readiness if r.status != "outside_article"], set()
    for title, items in ((L["reasons"], rec.rationale), (S["why_not"], rec.why_not), (L["caveats"], rec.caveats),
                         (S["readiness"], cited)):
        if items:
            console.print(Text(title, style="bold underline"))
            for r in items:
                text = _readiness_line(r, rec.lang) if isinstance(r, ReadinessItem) else r.text
                console.print(Text("• ") + Text(text))
                for c in r.citations:
                    console.print(Text("    " + _cite_line(c, rec.lang, seen), style="italic dim"))
    if rec.what_would_change:
        console.print(Text(S["change"], style="bold underline"))
        for f in rec.what_would_change:
            console.print(Text(f"→ {f.text}"))
    outside = [r for r in rec.readiness if r.status == "outside_article"]
    if outside:
        console.print(Text(S["outside"], style="bold underline"))
        for r in outside:
            console.print(Text(f"– {r.text} ") + Text(r.question, style="yellow"))
    if rec.open_questions:
        console.print(Text(L["open"], style="bold underline"))
        for q in rec.open_questions:
            console.print(Text(f"? {q.question}", style="yellow") + Text(f"  ({q.why})", style="dim"))


def render_coverage(cov: CoverageMap, console: Console, lang: str = "en") -> None:
    """The article's coverage per aspect: quoted, mentioned only, or not covered."""
    table = Table(title=wording().story_labels[lang]["coverage"], expand=True)
    for col in ("aspect", "status", "where / question"):
        table.add_column(col, overflow="fold")
    for a in cov.aspects:
        style = {"quoted": "green", "mentioned": "yellow", "not_covered": "red"}[a.status]
        where = ", ".join(a.claims or a.sections) if a.status != "not_covered" else a.question
        table.add_row(a.title_en, Text(a.status.replace("_", " "), style=style), where)
    console.print(table)


def render_search(resp: SearchResponse, console: Console) -> None:
    """Search results: heading path, score, and the passage with the query's terms highlighted."""
    terms = {t for t in tokenize(resp.query) if len(t) > 1}
    if not resp.results:
        console.print("No passages found.")
    for i, r in enumerate(resp.results, 1):
        console.print(Text.assemble((f"{i}. ", "bold"), (" › ".join(r.heading_path), "bold cyan"),
                                    (f"  [{r.section_id}]  score {r.score:.3f}  chars {r.source_start}–{r.source_end}", "dim")))
        body = Text(r.text)
        for term in terms:
            body.highlight_words([term], style="bold yellow", case_sensitive=False)
        console.print(Panel(body, border_style="dim"))
