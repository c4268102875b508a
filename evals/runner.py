"""`advisor eval`: run the golden cases through the advisor and gate on a saved result.

`evaluate` does the work and returns a plain dict (the `--json` object); `run_eval` is the
command: load and validate the cases (a malformed file stops the run before anything is
evaluated unless --keep-going), evaluate with a progress bar on stderr, print a summary
table or JSON, write the report, compare with a saved baseline (exit 3 on a regression)
and save a new baseline.
"""
from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Optional

from agent.errors import UserError
from agent.settings import Settings
from agent.types import DECISIONS, GoldenCase, Recommendation

from . import baselines, metamorphic, metrics, simulate
from . import quote_labels
from . import report as reporting
from .cases import LoadedSuite, load_suite

EXIT_REGRESSION = 3
WARMUP_TEXT = "A chatbot that answers questions from our internal wiki."

Tick = Callable[[str, int], None]  # (phase, steps done) for the progress bar


# --------------------------------------------------------------------------- one case

def _usage(engine) -> tuple[int, int]:
    u = getattr(engine, "usage", None)
    if u is None:
        return 0, 0
    return int(getattr(u, "calls", 0) or 0), int((getattr(u, "prompt_tokens", 0) or 0) + (getattr(u, "completion_tokens", 0) or 0))


def all_citations(rec: Recommendation):
    """Every citation the recommendation shows: the list, the rationale and the caveats."""
    yield from rec.citations
    for reason in [*rec.rationale, *rec.caveats]:
        yield from reason.citations


def score_case(case: GoldenCase, rec: Optional[Recommendation], checker, parents: dict) -> dict:
    """Per-case verdicts: decision, dimensions read, citations (validity, precision, recall)."""
    exp = case.expected
    row = {"id": case.id, "lang": case.lang, "expected": exp.decision, "tags": case.tags,
           "decision": rec.decision if rec else "error", "must_cite": exp.must_cite}
    row["ok"] = row["decision"] == exp.decision
    if rec is None:
        row.update(read={}, wrong_dims={}, cited=[], citations=0, invalid_quotes=[], precision=None,
                   recall=0.0 if exp.must_cite else None)
        return row
    read = metrics.read_values(rec.profile)
    row["read"] = {d: read[d] for d in exp.profile}
    row["wrong_dims"] = {d: {"expected": v, "read": read[d]} for d, v in exp.profile.items() if read[d] != v}
    cites = list(all_citations(rec))
    row["citations"] = len(cites)
    row["invalid_quotes"] = [{"section_id": c.section_id, "quote": c.quote} for c in cites
                             if not checker.is_verbatim(c.quote, c.section_id)]
    row["cited"] = sorted({c.section_id for c in cites})
    row["precision"], row["recall"] = metrics.citation_precision_recall(row["cited"], exp.must_cite, parents)
    from agent.api import disagreements  # parts of the advice that tell different stories

    row["disagreements"] = disagreements(rec)
    return row


# --------------------------------------------------------------------------- the whole suite

def evaluate(adv, loaded: LoadedSuite, tick: Optional[Tick] = None, *, interviews: bool = True,
             metamorphic_cases: bool = True, nearest: bool = True) -> dict:
    """Run every metric over the loaded cases with an agent.api.Advisor; returns the result dict."""
    from agent.article.source import QuoteChecker, load_article

    tick = tick or (lambda phase, n: None)
    started = time.perf_counter()
    phases: dict[str, float] = {}
    mark = [started]

    def lap(name: str) -> None:
        now = time.perf_counter()
        phases[name] = round(now - mark[0], 2)
        mark[0] = now

    cases = loaded.cases
    article = load_article()
    checker = QuoteChecker(article)
    parents = {s.id: s.parent for s in article.sections}
    quote_judge = quote_labels.QuoteLabels()

    # Warm-up: the first call loads models and caches; it is timed separately.
    t0 = time.perf_counter()
    adv.recommend(WARMUP_TEXT)
    warmup = time.perf_counter() - t0
    engine = adv.engine
    lap("warm-up")

    # 1. one-shot recommendations
    rows, latencies = [], []
    for case in cases:
        calls0, tokens0 = _usage(engine)
        t0 = time.perf_counter()
        try:
            rec, error = adv.recommend(case.description, lang=case.lang), None
        except Exception as exc:  # a crash is a wrong answer for this case, not the end of the run
            rec, error = None, f"{type(exc).__name__}: {exc}"
        latencies.append((time.perf_counter() - t0) * 1000)
        calls1, tokens1 = _usage(engine)
        row = score_case(case, rec, checker, parents)
        row.update(latency_ms=round(latencies[-1], 2), calls=calls1 - calls0, tokens=tokens1 - tokens0, error=error)
        row.update(confidence=rec.confidence if rec else None, **quote_labels.judge(rec, quote_judge))
        rows.append(row)
        tick("one-shot", 1)

    gold = [r["expected"] for r in rows]
    pred = [r["decision"] for r in rows]
    labels = list(DECISIONS) + (["error"] if "error" in pred else [])
    matrix = metrics.confusion_matrix(gold, pred, labels)
    per_dim = metrics.dimension_accuracy((c.expected.profile, r.get("read", {})) for c, r in zip(cases, rows))
    n_cites = sum(r["citations"] for r in rows)
    n_invalid = sum(len(r["invalid_quotes"]) for r in rows)
    result_metrics = {
        "decision_accuracy": metrics.accuracy(gold, pred),
        "confusion": {"labels": labels, "matrix": matrix},
        "per_decision": metrics.per_class(matrix, labels),
        "dimension_accuracy": per_dim,
        "extraction_accuracy": metrics.pooled_accuracy(per_dim),
        "citation_validity": 1.0 if n_cites == 0 else (n_cites - n_invalid) / n_cites,
        "citations_checked": n_cites,
        "citation_precision": metrics.mean(r["precision"] for r in rows),
        "citation_recall": metrics.mean(r["recall"] for r in rows),
        "disagreements": sum(len(r.get("disagreements", [])) for r in rows),
        "latency_ms": {"p50": metrics.percentile(latencies, 50), "p95": metrics.percentile(latencies, 95),
                       "max": max(latencies), "warmup": round(warmup * 1000, 1)},
        "llm": {"calls_per_case": metrics.mean(r["calls"] for r in rows),
                "tokens_per_case": metrics.mean(r["tokens"] for r in rows)},
    }
    # Decision calibration and quote relevance (definitions in metrics.DEFINITIONS).
    judged = [r for r in rows if r["confidence"] is not None]
    result_metrics["calibration"] = metrics.calibration([r["confidence"] for r in judged], [r["ok"] for r in judged])
    result_metrics["quote_relevance"] = metrics.quote_relevance(v for r in rows for v in r["quote_verdicts"])
    result_metrics["quote_relevance"]["labels"] = quote_judge.version

    lap("one-shot")

    # 2. naive baselines
    predictor = baselines.NearestUseCase() if nearest else None
    naive = baselines.naive_predictions(cases, predictor, on_case=lambda n: tick("baselines", n))
    acc = result_metrics["decision_accuracy"]
    base = {}
    for name, preds in naive.items():
        b_acc = metrics.accuracy(gold, preds)
        base[name] = {"accuracy": b_acc, "margin": acc - b_acc}
        if name == "majority":
            base[name]["label"] = preds[0] if preds else None

    lap("baselines")

    # 3. metamorphic variants of the cases decided correctly
    if metamorphic_cases:
        decided = {r["id"]: r["decision"] for r in rows}
        variants = metamorphic.generate(cases, decided)
        tick("metamorphic:total", len(variants))
        new = []
        for v in variants:
            try:
                new.append(adv.recommend(v.description, lang=v.lang).decision)
            except Exception:
                new.append("error")
            tick("metamorphic", 1)
        meta = metamorphic.summarise(variants, new)
        meta["source_cases"] = len({v.case_id for v in variants})
        result_metrics["metamorphic"] = meta
        lap("metamorphic")

    # 4. interview simulation, from the description and from an empty start
    if interviews:
        runs = []
        for start in simulate.STARTS:
            for case in cases:
                runs.append(simulate.simulate(adv, case, start))
                tick(f"interview ({start})", 1)
        one_shot = {r["id"]: r["decision"] for r in rows}
        result_metrics["interview"] = simulate.summarise(runs, one_shot, {c.id: c.expected.decision for c in cases})
        by_case = {(r.case_id, r.start): r for r in runs}
        for row in rows:
            for start in simulate.STARTS:
                r = by_case[(row["id"], start)]
                row[f"interview_{start}"] = {"decision": r.decision, "questions": r.questions, "stuck": r.stuck}
        lap("interviews")

    return {
        "format": "advisor.eval.v1", "suite": loaded.name, "files": [str(f) for f in loaded.files],
        "engine": getattr(engine, "name", str(engine)), "n_cases": len(cases),
        "skipped": [p.line() for p in loaded.problems],
        "metrics": result_metrics, "baselines": base, "cases": rows,
        "definitions": metrics.DEFINITIONS, "runtime_s": round(time.perf_counter() - started, 2),
        "phases_s": phases,
    }


# --------------------------------------------------------------------------- the command

@contextmanager
def _progress(enabled: bool, total: int):
    """A progress bar on stderr (nothing when stderr is not a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda phase, n: None
        return
    with Progress(TextColumn("[bold]eval[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("one-shot", total=total)

        def tick(phase: str, n: int) -> None:
            if phase.endswith(":total"):
                bar.update(task, total=bar.tasks[0].total + n)
            else:
                bar.update(task, advance=n, description=phase)

        yield tick


def gate(result: dict, baseline: Optional[Path], saved: Optional[dict] = None) -> tuple[int, list]:
    """(exit code, checks): 3 when a baseline was given and any check fails."""
    if baseline is not None and saved is None:
        saved = baselines.load_saved(baseline)
    checks = baselines.compare(result, saved)
    failed = baseline is not None and any(not c.ok for c in checks)
    return (EXIT_REGRESSION if failed else 0), checks


def run_eval(settings: Settings, *, suite: Optional[Path] = None, engine: Optional[str] = None,
             as_json: bool = False, report: Optional[Path] = None, baseline: Optional[Path] = None,
             keep_going: bool = False, save_baseline: Optional[Path] = None) -> int:
    """The `advisor eval` command; returns the exit code (0, or 3 on a regression)."""
    from rich.console import Console

    from agent.api import Advisor
    from agent.article.source import load_article

    err = Console(stderr=True)
    report_dir = report_path(report)
    loaded = load_suite(suite, keep_going=keep_going, known_sections=set(load_article().by_id))
    for p in loaded.problems:
        err.print(f"skipped: {p.line()}", highlight=False, markup=False, soft_wrap=True)
    saved = baselines.load_saved(baseline) if baseline is not None else None

    adv = Advisor(settings, engine=engine)
    n = len(loaded.cases)
    with _progress(True, n * (2 + len(simulate.STARTS))) as tick:
        result = evaluate(adv, loaded, tick)
    code, checks = gate(result, baseline, saved)
    result["gate"] = {"baseline": str(baseline) if baseline else None, "passed": code == 0,
                      "checks": [c.__dict__ for c in checks]}
    if saved is not None:
        result["gate"]["newly_wrong"] = baselines.newly_wrong(result, saved)
        for what in ("suite", "engine", "n_cases"):
            if saved.get(what) != result[what]:
                err.print(f"note: the baseline was made with {what} {saved.get(what)!r}; this run has {result[what]!r}",
                          highlight=False, markup=False, soft_wrap=True)

    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    else:
        reporting.render_terminal(result, checks, Console(), baseline=saved)
    if report_dir is not None:
        written = reporting.write_report(result, checks, report_dir, baseline=saved)
        err.print(f"report written: {', '.join(str(p) for p in written)}", highlight=False, markup=False, soft_wrap=True)
    if save_baseline is not None:
        baselines.save(result, save_baseline)
        err.print(f"baseline saved: {save_baseline}", highlight=False, markup=False, soft_wrap=True)
    if code:
        failed = [c for c in checks if not c.ok]
        for c in failed:
            err.print(c.line(), highlight=False, markup=False, soft_wrap=True)
        wrong = result["gate"].get("newly_wrong") or []
        if wrong:
            err.print(f"cases right in the baseline and wrong now: {', '.join(wrong)}", highlight=False, markup=False, soft_wrap=True)
        err.print(f"eval gate failed: {len(failed)} check(s) regressed against {baseline}", highlight=False, markup=False, soft_wrap=True)
    return code


def report_path(path: Optional[Path]) -> Optional[Path]:
    if path is None:
        return None
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"--report {path}: exists and is not a folder")
    return path
