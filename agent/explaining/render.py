"""Renderings of a recommendation: terminal (rich), markdown and JSON."""
from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..types import CORE_DIMENSIONS, Citation, Recommendation, SearchResponse
from ..textproc import tokenize
from ..wording import wording

_COLOURS = {"rag": "cyan", "fine-tuning": "magenta", "hybrid": "green", "prompting": "yellow", "undecided": "red"}
_LABELS = {
    "en": {"profile": "Profile", "dimension": "Dimension", "value": "Value", "evidence": "Evidence",
           "source": "Source", "reasons": "Why", "caveats": "Caveats", "open": "What would change the advice",
           "assumed": "Assumptions (not mentioned, assumed absent)", "confidence": "confidence", "engine": "engine"},
    "zh": {"profile": "画像", "dimension": "维度", "value": "取值", "evidence": "依据（你的原话）",
           "source": "来源", "reasons": "理由", "caveats": "注意事项", "open": "哪些回答会改变建议",
           "assumed": "假设（未提及，按不存在处理）", "confidence": "置信度", "engine": "引擎"},
}


def to_json(rec: Recommendation) -> dict:
    """The DESIGN.md JSON shape (with a few additive keys)."""
    return rec.model_dump(mode="json")


def _cite_line(c: Citation, lang: str) -> str:
    head = " › ".join(c.heading_path)
    if lang == "en":
        return f"「{c.quote}」 — {head} ({c.title_en}). {c.summary_en}"
    return f"「{c.quote}」 —— {head}"


def _profile_rows(rec: Recommendation):
    names = wording().dimension_names[rec.lang]
    for dim, dv in rec.profile.known().items():
        if dim in CORE_DIMENSIONS or dv.value == "yes":
            yield names[dim], dv.value, dv.evidence, dv.source


def to_markdown(rec: Recommendation, advice_text: str = "") -> str:
    """The recommendation as a markdown document."""
    w, L = wording(), _LABELS[rec.lang]
    out = [f"# {w.decision_names[rec.lang][rec.decision]}", "",
           f"{w.headline[rec.lang][rec.decision]}", "",
           f"*{L['confidence']}: {rec.confidence:.2f} · {L['engine']}: {rec.engine}*", ""]
    if advice_text:
        out += [advice_text.strip(), ""]
    out += [f"## {L['profile']}", "", f"| {L['dimension']} | {L['value']} | {L['source']} | {L['evidence']} |",
            "| --- | --- | --- | --- |"]
    for name, value, evidence, source in _profile_rows(rec):
        out.append(f"| {name} | {value} | {source} | {evidence.replace('|', '/').replace(chr(10), ' ')} |")
    for title, items in ((L["reasons"], rec.rationale), (L["caveats"], rec.caveats)):
        if items:
            out += ["", f"## {title}", ""]
            for r in items:
                out.append(f"- {r.text}")
                out += [f"  > {_cite_line(c, rec.lang)}" for c in r.citations]
    if rec.open_questions:
        out += ["", f"## {L['open']}", ""] + [f"- {q.question} — {q.why}" for q in rec.open_questions]
    if rec.notices:
        out += [""] + [f"> {n}" for n in rec.notices]
    return "\n".join(out) + "\n"


def render_terminal(rec: Recommendation, console: Console, advice_text: str = "") -> None:
    """The recommendation as a readable terminal view."""
    w, L = wording(), _LABELS[rec.lang]
    colour = _COLOURS[rec.decision]
    head = Text.assemble((w.decision_names[rec.lang][rec.decision], f"bold {colour}"),
                         (f"   {L['confidence']} {rec.confidence:.2f} · {L['engine']} {rec.engine}", "dim"))
    console.print(Panel(Group(head, Text(w.headline[rec.lang][rec.decision])), border_style=colour))
    if advice_text:
        console.print(advice_text)
    table = Table(title=L["profile"], show_lines=False, expand=True)
    for col in (L["dimension"], L["value"], L["source"], L["evidence"]):
        table.add_column(col, overflow="fold")
    for name, value, evidence, source in _profile_rows(rec):
        style = {"yes": "green", "no": "red"}.get(value, "")
        table.add_row(name, Text(value, style=style), Text(source, style="dim"), evidence)
    console.print(table)
    for title, items in ((L["reasons"], rec.rationale), (L["caveats"], rec.caveats)):
        if items:
            console.print(Text(title, style="bold underline"))
            for r in items:
                console.print(Text("• ") + Text(r.text))
                for c in r.citations:
                    console.print(Text("    " + _cite_line(c, rec.lang), style="italic dim"))
    if rec.open_questions:
        console.print(Text(L["open"], style="bold underline"))
        for q in rec.open_questions:
            console.print(Text(f"? {q.question}", style="yellow") + Text(f"  ({q.why})", style="dim"))
    for n in rec.notices:
        console.print(Text(f"! {n}", style="yellow"))


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
