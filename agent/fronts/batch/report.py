"""`advisor batch --report DIR`: summary.md with PNG charts, and results.csv, built by streaming OUT.

Only counters are kept in memory; results.csv is written row by row as OUT is read.
Charts use matplotlib's Agg canvas directly (no pyplot, no display, no global state).
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path
from typing import Optional

from .files import iter_out
from ...types import DECISIONS

CSV_COLUMNS = ["id", "decision", "confidence", "decided_by", "top_reason", "error"]
TOP = 10
# OWASP CSV injection: a spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def csv_cell(value: object) -> object:
    """A value safe for a spreadsheet: text that would start a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def md_text(text: object) -> str:
    """Untrusted text (an id, an error message) as inert markdown inside a table cell.

    Line breaks (which could start new table rows) become spaces, HTML is escaped and every
    markdown punctuation character is backslash-escaped, so no link, image or tag survives.
    """
    flat = " ".join(str(text).replace("\r", "\n").split("\n"))
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", flat)


class _Tally:
    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.decisions: Counter[str] = Counter()
        self.decided_by: Counter[str] = Counter()
        self.open_questions: Counter[str] = Counter()
        self.question_text: dict[str, str] = {}
        self.english: set[str] = set()
        self.errors: Counter[str] = Counter()
        self.failed_examples: list[tuple[str, str, str]] = []
        self.confidence_sum = 0.0


def write_report(out: Path, folder: Path) -> dict[str, Path]:
    """Write summary.md, results.csv and the charts into `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    tally = _Tally()
    csv_path = folder / "results.csv"
    with open(csv_path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for obj in iter_out(out):
            writer.writerow([csv_cell(v) for v in _csv_row(obj, tally)])
    charts = {
        "decisions": _bar_chart(folder / "decisions.png", "Decisions",
                                [(d, tally.decisions[d]) for d in DECISIONS if tally.decisions[d]]),
        "decided_by": _bar_chart(folder / "decided_by.png", "Dimensions that decided the outcome",
                                 tally.decided_by.most_common(TOP), horizontal=True),
        "open_questions": _bar_chart(folder / "open_questions.png", "Most common open questions",
                                     tally.open_questions.most_common(TOP), horizontal=True),
    }
    summary = folder / "summary.md"
    summary.write_text(_markdown(out, tally, charts), encoding="utf-8")
    return {"summary": summary, "csv": csv_path, **{k: v for k, v in charts.items() if v}}


def _csv_row(obj: dict, tally: _Tally) -> list:
    err = obj.get("error")
    row_id = "" if obj.get("id") is None else str(obj["id"])
    if err:
        tally.failed += 1
        etype, message = str(err.get("type", "")), str(err.get("message", ""))
        tally.errors[etype] += 1
        if len(tally.failed_examples) < 20:
            tally.failed_examples.append((row_id or f"line {obj.get('line', '?')}", etype, message))
        return [row_id, "", "", "", "", f"{etype}: {message}"]
    tally.ok += 1
    decision = obj.get("decision", "")
    tally.decisions[decision] += 1
    confidence = obj.get("confidence")
    if isinstance(confidence, (int, float)):
        tally.confidence_sum += confidence
    decided_by = [str(d) for d in obj.get("decided_by") or []]
    tally.decided_by.update(decided_by)
    for q in obj.get("open_questions") or []:
        dim = q.get("dimension", "")
        tally.open_questions[dim] += 1
        if dim not in tally.english and q.get("question"):  # an English wording wins
            tally.question_text[dim] = q["question"]
            if obj.get("lang") == "en":
                tally.english.add(dim)
    rationale = obj.get("rationale") or []
    top = rationale[0].get("text", "") if rationale else ""
    return [row_id, decision, confidence if confidence is not None else "", ";".join(decided_by), top, ""]


def _bar_chart(path: Path, title: str, items: list[tuple[str, int]], *,
               horizontal: bool = False) -> Optional[Path]:
    """A bar chart PNG of (label, count); None (no file) when there is nothing to show."""
    if not items:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels, counts = [k for k, _ in items], [v for _, v in items]
    fig = Figure(figsize=(7, 0.45 * len(items) + 1.5) if horizontal else (7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if horizontal:
        bars = ax.barh(labels[::-1], counts[::-1], color="#4c72b0")
        ax.set_xlabel("rows")
    else:
        bars = ax.bar(labels, counts, color="#4c72b0")
        ax.set_ylabel("rows")
    ax.bar_label(bars, padding=2)
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _markdown(out: Path, t: _Tally, charts: dict[str, Optional[Path]]) -> str:
    total = t.ok + t.failed
    lines = [f"# Batch report: {md_text(out.name)}", "",
             f"{total:,} rows: {t.ok:,} recommendations, {t.failed:,} failed."]
    if t.ok:
        lines.append(f"Mean confidence {t.confidence_sum / t.ok:.2f}.")
    lines += ["", "## Decisions", "", "| decision | rows | share |", "| --- | ---: | ---: |"]
    for d in DECISIONS:
        if t.decisions[d]:
            lines.append(f"| {d} | {t.decisions[d]:,} | {t.decisions[d] / max(t.ok, 1):.0%} |")
    if charts.get("decisions"):
        lines += ["", "![Decisions](decisions.png)"]
    if t.decided_by:
        lines += ["", "## What decided", "", "How often each dimension settled the outcome.", "",
                  "| dimension | rows |", "| --- | ---: |"]
        lines += [f"| {md_text(d)} | {n:,} |" for d, n in t.decided_by.most_common(TOP)]
        lines += ["", "![Dimensions that decided](decided_by.png)"]
    if t.open_questions:
        lines += ["", "## Most common open questions", "",
                  "Answering these would most often change or firm up the advice.", "",
                  "| dimension | rows | question |", "| --- | ---: | --- |"]
        for d, n in t.open_questions.most_common(TOP):
            lines.append(f"| {md_text(d)} | {n:,} | {md_text(t.question_text.get(d, ''))} |")
        lines += ["", "![Open questions](open_questions.png)"]
    if t.failed:
        lines += ["", "## Failed rows", "", "| error | rows |", "| --- | ---: |"]
        lines += [f"| {md_text(e)} | {n:,} |" for e, n in t.errors.most_common()]
        lines += ["", "| id | error | message |", "| --- | --- | --- |"]
        lines += [f"| {md_text(i)} | {md_text(e)} | {md_text(m)} |" for i, e, m in t.failed_examples]
        if t.failed > len(t.failed_examples):
            lines.append(f"\n…and {t.failed - len(t.failed_examples):,} more: see results.csv.")
    lines += ["", "Every row is in [results.csv](results.csv)."]
    return "\n".join(lines) + "\n"
