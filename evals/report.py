"""Renderings of an eval result: the terminal summary, report.md, report.json and PNG charts."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from rich.console import Console
from rich.table import Table

from .simulate import STARTS


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def _num(v, digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _get(result: Optional[dict], path: str):
    node = (result or {}).get("metrics", {})
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def summary_rows(result: dict) -> list[tuple[str, str, str]]:
    """(label, metric path or '', formatted value) rows of the summary table."""
    m = result["metrics"]
    rows = [
        ("decision accuracy", "decision_accuracy", _pct(m["decision_accuracy"])),
        ("extraction accuracy (all dims)", "extraction_accuracy", _pct(m["extraction_accuracy"])),
        ("citation validity", "citation_validity", f"{_pct(m['citation_validity'])} of {m['citations_checked']}"),
        ("citation precision", "citation_precision", _pct(m["citation_precision"])),
        ("citation recall", "citation_recall", _pct(m["citation_recall"])),
    ]
    if "disagreements" in m:  # parts of one advice telling different stories (agent/explaining/consistency.py)
        rows.append(("consistency: disagreements", "", str(m["disagreements"])))
    if "metamorphic" in m:
        mm = m["metamorphic"]
        rows.append(("metamorphic pass rate", "metamorphic.pass_rate", f"{_pct(mm['pass_rate'])} ({mm['passed']}/{mm['n']})"))
    if "interview" in m:
        iv = m["interview"]
        for start in STARTS:
            s = iv.get(start)
            if s:
                label = {"description": "from text", "empty": "empty start"}[start]
                rows.append((f"interview agreement, {label}", f"interview.{start}.agreement", _pct(s["agreement"])))
                rows.append((f"interview questions, {label}", "",
                             f"{_num(s['mean_questions'])} mean, {s['max_questions']} max"))
        rows.append(("interview max questions (limit 8)", "interview.max_questions", str(iv["max_questions"])))
    rows += calibration_quote_rows(m)
    lat = m["latency_ms"]
    rows.append(("latency p50 / p95 (ms)", "", f"{_num(lat['p50'])} / {_num(lat['p95'])}"))
    rows.append(("LLM calls / tokens per case", "", f"{_num(m['llm']['calls_per_case'])} / {_num(m['llm']['tokens_per_case'], 0)}"))
    return rows


def _delta(result: dict, baseline: Optional[dict], path: str) -> tuple[str, str]:
    """(baseline value, change) of one summary row; empty when there is nothing to compare."""
    if not baseline or not path:
        return "", ""
    now, was = _get(result, path), _get(baseline, path)
    if was is None:
        return "", ""
    if isinstance(was, int) and not isinstance(was, bool) and path.endswith("max_questions"):
        return str(was), "" if now is None else f"{now - was:+d}"
    return _pct(was), "" if now is None else f"{(now - was) * 100:+.1f} pts"


def render_terminal(result: dict, checks: list, console: Console, baseline: Optional[dict] = None) -> None:
    """The summary: headline metrics, baselines, per-dimension accuracy, the gate."""
    title = (f"advisor eval: {result['suite']} ({result['n_cases']} cases, engine {result['engine']}, "
             f"{result['runtime_s']:.1f} s)")
    t = Table(title=title, title_justify="left")
    t.add_column("metric")
    t.add_column("value", justify="right")
    if baseline:
        t.add_column("baseline", justify="right")
        t.add_column("change", justify="right")
    for label, path, value in summary_rows(result):
        t.add_row(label, value, *(_delta(result, baseline, path) if baseline else ()))
    console.print(t)

    b = Table(title="naive baselines (decision accuracy)", title_justify="left")
    b.add_column("baseline")
    b.add_column("accuracy", justify="right")
    b.add_column("advisor margin", justify="right")
    for name, v in result["baselines"].items():
        label = f"{name} ({v['label']})" if v.get("label") else name
        b.add_row(label, _pct(v["accuracy"]), f"{v['margin']:+.1%}")
    console.print(b)

    d = Table(title="extraction accuracy per dimension", title_justify="left")
    d.add_column("dimension")
    d.add_column("cases", justify="right")
    d.add_column("accuracy", justify="right")
    for dim, v in result["metrics"]["dimension_accuracy"].items():
        d.add_row(dim, str(v["n"]), _pct(v["accuracy"]))
    console.print(d)

    failed = [c for c in checks if not c.ok]
    if baseline is not None:
        console.print(f"gate vs baseline: {'[green]passed[/green]' if not failed else f'[red]{len(failed)} regressed[/red]'} "
                      f"({len(checks)} checks)")
    for c in failed:
        console.print(f"[red]{c.line()}[/red]", highlight=False)


# --------------------------------------------------------------------------- files

def write_report(result: dict, checks: list, folder: Path, baseline: Optional[dict] = None) -> list[Path]:
    """report.md, report.json and the charts in `folder`; returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    charts = write_charts(result, folder)
    md = folder / "report.md"
    md.write_text(to_markdown(result, checks, baseline, [c.name for c in charts]), encoding="utf-8")
    js = folder / "report.json"
    js.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return [md, js, *charts]


def _md_table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def to_markdown(result: dict, checks: list, baseline: Optional[dict] = None, charts: Optional[list[str]] = None) -> str:
    m = result["metrics"]
    charts = charts or []
    defs = result["definitions"]
    parts = [f"# Eval report: {result['suite']}",
             f"{result['n_cases']} cases, engine `{result['engine']}`, runtime {result['runtime_s']:.1f} s. "
             f"Files: {', '.join(f'`{f}`' for f in result['files'])}."]
    if result.get("skipped"):
        parts.append("Skipped (malformed):\n" + "\n".join(f"- {s}" for s in result["skipped"]))

    header = ["metric", "value"] + (["baseline", "change"] if baseline else [])
    rows = [[label, value, *(_delta(result, baseline, path) if baseline else ())]
            for label, path, value in summary_rows(result)]
    parts += ["## Summary", _md_table(header, rows)]
    if checks:
        failed = [c for c in checks if not c.ok]
        verdict = "passed" if not failed else f"{len(failed)} check(s) regressed"
        parts += [f"## Gate ({verdict})", "\n".join(f"- {c.line()}" for c in checks)]
        wrong = (result.get("gate") or {}).get("newly_wrong")
        if wrong:
            parts.append("Cases right in the baseline and wrong now: " + ", ".join(f"`{w}`" for w in wrong))

    parts += ["## Definitions", "\n".join(f"- **{k}**: {v}" for k, v in defs.items())]

    labels, matrix = m["confusion"]["labels"], m["confusion"]["matrix"]
    parts += ["## Decisions", f"Decision accuracy {_pct(m['decision_accuracy'])}. Confusion matrix "
              "(rows expected, columns decided):",
              _md_table(["expected \\ decided", *labels], [[lab, *row] for lab, row in zip(labels, matrix)])]
    if "confusion_matrix.png" in charts:
        parts.append("![confusion matrix](confusion_matrix.png)")
    parts.append(_md_table(["decision", "cases", "decided", "precision", "recall"],
                           [[k, v["support"], v["predicted"], _pct(v["precision"]), _pct(v["recall"])]
                            for k, v in m["per_decision"].items()]))
    wrong = [c for c in result["cases"] if not c["ok"]]
    if wrong:
        parts.append("Wrong decisions:\n" + _md_table(
            ["case", "expected", "decided", "dimensions misread (expected/read)"],
            [[f"`{c['id']}`", c["expected"], c["decision"],
              ", ".join(f"{d} {v['expected']}/{v['read']}" for d, v in c.get("wrong_dims", {}).items()) or "-"]
             for c in wrong]))

    parts += ["## Extraction per dimension", _md_table(
        ["dimension", "cases", "correct", "accuracy"],
        [[d, v["n"], v["correct"], _pct(v["accuracy"])] for d, v in m["dimension_accuracy"].items()])]
    if "per_dimension.png" in charts:
        parts.append("![per-dimension accuracy](per_dimension.png)")

    parts += ["## Citations",
              f"Validity {_pct(m['citation_validity'])} of {m['citations_checked']} citations; "
              f"precision {_pct(m['citation_precision'])}, recall {_pct(m['citation_recall'])} against `must_cite`."]
    invalid = [(c["id"], q) for c in result["cases"] for q in c.get("invalid_quotes", [])]
    if invalid:
        parts.append("Quotes that are not verbatim:\n" + "\n".join(f"- `{i}` {q['section_id']}: {q['quote']}" for i, q in invalid))
    missed = [(c["id"], sorted(set(c["must_cite"]) - set(c["cited"]))) for c in result["cases"]]
    missed = [(i, ms) for i, ms in missed if ms]
    if missed:
        parts.append(f"Cases missing a must_cite section ({len(missed)}):\n" + "\n".join(
            f"- `{i}`: {', '.join(ms)}" for i, ms in missed[:40]) + ("\n- …" if len(missed) > 40 else ""))

    if "disagreements" in m:
        told = [(c["id"], d) for c in result["cases"] for d in c.get("disagreements", [])]
        parts += ["## Consistency",
                  f"{m['disagreements']} disagreements between the parts of one advice (headline, profile, reasons, "
                  "caveats, why not, what would change it, open questions)."
                  + ("\n" + "\n".join(f"- `{i}`: {d}" for i, d in told[:40]) if told else "")]

    parts += ["## Baselines", _md_table(
        ["predictor", "accuracy", "advisor margin"],
        [["advisor", _pct(m["decision_accuracy"]), ""]] +
        [[f"{k} ({v['label']})" if v.get("label") else k, _pct(v["accuracy"]), f"{v['margin']:+.1%}"]
         for k, v in result["baselines"].items()])]
    if "baselines.png" in charts:
        parts.append("![baselines](baselines.png)")

    if "metamorphic" in m:
        mm = m["metamorphic"]
        parts += ["## Metamorphic cases",
                  f"{mm['n']} variants of {mm['source_cases']} correctly decided cases: pass rate {_pct(mm['pass_rate'])}; "
                  f"must move {_pct(mm['must_move']['pass_rate'])} ({mm['must_move']['passed']}/{mm['must_move']['n']}), "
                  f"must hold {_pct(mm['must_hold']['pass_rate'])} ({mm['must_hold']['passed']}/{mm['must_hold']['n']}).",
                  _md_table(["transform", "variants", "passed", "pass rate"],
                            [[k, v["n"], v["passed"], _pct(v["pass_rate"])] for k, v in mm["by_transform"].items()])]
        if mm["failures"]:
            parts.append("Failures:\n" + _md_table(["variant", "from", "expected", "got"],
                                                    [[f"`{f['id']}`", f["from"], f["expected"], f["got"]] for f in mm["failures"]]))

    if "interview" in m:
        iv = m["interview"]
        rows = [[s, v["n"], _num(v["mean_questions"]), v["p50_questions"], v["max_questions"], _pct(v["agreement"]),
                 _pct(v["accuracy"]), v["stuck"], v["errors"]] for s, v in iv.items() if s in STARTS]
        parts += ["## Interview simulation", _md_table(
            ["start", "cases", "mean q", "p50 q", "max q", "agrees with one-shot", "accuracy", "stuck", "errors"], rows)]
        if "interview_questions.png" in charts:
            parts.append("![questions asked](interview_questions.png)")
        for s in STARTS:
            dis = iv.get(s, {}).get("disagreements", [])
            if dis:
                parts.append(f"Disagreements ({s} start):\n" + _md_table(
                    ["case", "interview", "one-shot", "expected"],
                    [[f"`{d['id']}`", d["interview"], d["one_shot"], d["expected"]] for d in dis]))

    parts += calibration_quote_markdown(result, charts)

    lat = m["latency_ms"]
    parts += ["## Cost", f"Latency per one-shot case: p50 {_num(lat['p50'])} ms, p95 {_num(lat['p95'])} ms, "
              f"max {_num(lat['max'])} ms (warm-up call {_num(lat['warmup'])} ms). LLM calls per case "
              f"{_num(m['llm']['calls_per_case'])}, tokens per case {_num(m['llm']['tokens_per_case'], 0)}."]
    return "\n\n".join(parts) + "\n"


def write_charts(result: dict, folder: Path) -> list[Path]:
    """PNG charts with matplotlib's Agg backend: confusion matrix, per dimension, baselines, interviews."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = result["metrics"]
    out = []

    labels, matrix = m["confusion"]["labels"], m["confusion"]["matrix"]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("decided")
    ax.set_ylabel("expected")
    top = max((max(r) for r in matrix), default=0) or 1
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", color="white" if v > top / 2 else "black")
    ax.set_title(f"Decisions ({_pct(m['decision_accuracy'])} correct)")
    out.append(_save(fig, folder / "confusion_matrix.png"))

    dims = m["dimension_accuracy"]
    fig, ax = plt.subplots(figsize=(7, 0.35 * max(len(dims), 3) + 1))
    names = list(dims)
    ax.barh(names, [dims[d]["accuracy"] for d in names], color="#4c78a8")
    for i, d in enumerate(names):
        ax.text(dims[d]["accuracy"] + 0.01, i, f"{dims[d]['accuracy']:.0%} (n={dims[d]['n']})", va="center", fontsize=8)
    ax.set_xlim(0, 1.15)
    ax.invert_yaxis()
    ax.set_title("Extraction accuracy per dimension")
    out.append(_save(fig, folder / "per_dimension.png"))

    names = ["advisor", *result["baselines"]]
    values = [m["decision_accuracy"], *(v["accuracy"] for v in result["baselines"].values())]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(names, values, color=["#54a24b"] + ["#bab0ac"] * (len(names) - 1))
    for i, v in enumerate(values):
        ax.text(i, v + 0.01, f"{v:.0%}", ha="center")
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("decision accuracy")
    ax.set_title("Advisor vs naive baselines")
    out.append(_save(fig, folder / "baselines.png"))

    if "interview" in m:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for start in STARTS:
            qs = [c[f"interview_{start}"]["questions"] for c in result["cases"] if f"interview_{start}" in c]
            if qs:
                ax.hist(qs, bins=range(0, 10), alpha=0.6, label=f"{start} start", align="left")
        ax.axvline(8.5, color="red", linestyle="--", label="limit (8)")
        ax.set_xlabel("questions asked")
        ax.set_ylabel("cases")
        ax.legend()
        ax.set_title("Interview length")
        out.append(_save(fig, folder / "interview_questions.png"))
    if m.get("calibration", {}).get("n"):
        from .reliability_chart import plot

        out.append(plot({result["suite"]: m["calibration"]}, folder / "reliability.png"))
    return out


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- decision calibration, quote relevance

def calibration_quote_rows(m: dict) -> list[tuple[str, str, str]]:
    """Summary rows for the decision's calibration and the quotes' relevance (when measured)."""
    rows = []
    cal = m.get("calibration")
    if cal and cal["n"]:
        rows.append((f"decision ECE ({cal['bins_count']} bins, lower is better)", "calibration.ece", _pct(cal["ece"])))
        c = cal["confident"]
        rows.append((f"confidence ≥ {c['threshold']}: share / accuracy", "calibration.confident.share",
                     f"{_pct(c['share'])} / {_pct(c['accuracy'])}"))
    q = m.get("quote_relevance")
    if q and q["n"]:
        cn = q["counts"]
        rows.append(("quote relevance rate", "quote_relevance.rate", f"{_pct(q['rate'])} of {q['n']}"))
        rows.append(("quotes rejected / not listed / unlabelled", "",
                     f"{cn['rejected']} / {cn['not_listed']} / {cn['unlabelled']}"))
    return rows


def calibration_quote_markdown(result: dict, charts: list[str]) -> list[str]:
    """The report's 'Decision calibration' and 'Quote relevance' sections."""
    m, parts = result["metrics"], []
    cal = m.get("calibration")
    if cal and cal["n"]:
        c = cal["confident"]
        parts += ["## Decision calibration",
                  f"{cal['n']} cases: mean confidence {_num(cal['mean_confidence'], 3)}, accuracy "
                  f"{_pct(cal['accuracy'])}, expected calibration error {_num(cal['ece'], 3)} "
                  f"({cal['bins_count']} equal-width bins). Confidence ≥ {c['threshold']}: {c['n']} cases "
                  f"({_pct(c['share'])}), {_pct(c['accuracy'])} right.",
                  _md_table(["confidence", "cases", "mean confidence", "accuracy", "gap"],
                            [[f"{b['lo']:.1f}–{b['hi']:.1f}", b["n"], _num(b["confidence"], 3), _pct(b["accuracy"]),
                              "" if not b["n"] else f"{(b['accuracy'] - b['confidence']) * 100:+.1f} pts"]
                             for b in cal["bins"]])]
        if "reliability.png" in charts:
            parts.append("![reliability diagram](reliability.png)")
    q = m.get("quote_relevance")
    if q and q["n"]:
        cn = q["counts"]
        parts += ["## Quote relevance",
                  f"{q['n']} citations shown, judged against `{q.get('labels', 'claims.v1')}`: "
                  f"{cn['acceptable']} acceptable (rate {_pct(q['rate'])}; {_pct(q['labelled_rate'])} of the "
                  f"{q['n'] - cn['unlabelled']} with a labelled claim), {cn['rejected']} rejected, "
                  f"{cn['not_listed']} not listed for their claim, {cn['unlabelled']} with a claim outside the "
                  "labelled set (not counted as relevant)."]
        seen: dict[tuple, list[str]] = {}
        for case in result["cases"]:
            for b in case.get("irrelevant_quotes", []):
                seen.setdefault((b["verdict"], b["claim"] or "(none)", b["section_id"], b["quote"]), []).append(case["id"])
        if seen:
            rows = [[v, f"`{claim}`", sid, quote, f"{len(ids)} ({', '.join(f'`{i}`' for i in ids[:3])}"
                     + (", …)" if len(ids) > 3 else ")")]
                    for (v, claim, sid, quote), ids in sorted(seen.items(), key=lambda kv: (kv[0][0], -len(kv[1])))]
            parts.append("Quotes not acceptable for their claim:\n" +
                         _md_table(["verdict", "claim", "section", "quote", "cases"], rows))
    return parts
