"""Benchmark `advisor batch` with the offline engine: rows/s and peak memory at 1k and 10k rows.

    python -m evals.bench_batch                 # 1,000 and 10,000 rows, 3 runs each, medians
    python -m evals.bench_batch --n 10000 --repeats 1 --fsync-every 1

Descriptions are the golden cases' own, varied (context sentences added, sentences
reordered, numbers changed), so the extractor sees typical text rather than 10,000 copies.
Each run is a fresh child process, so peak RSS (VmHWM) is that run's alone; RSS is also
sampled during the run to show that memory stays flat as rows stream through.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

GOLDEN = Path(__file__).parent / "golden" / "advisor.golden.v1.yaml"

_CONTEXT_EN = [
    "We are a team of {n} engineers.", "This is for an internal pilot next quarter.",
    "Budget is limited, so we want the simplest thing that works.",
    "Our users are mostly non-technical.", "We run everything on our own cloud account.",
    "The project was approved last month.", "About {n} people would use it every day.",
]
_CONTEXT_ZH = ["我们团队有{n}名工程师。", "这是下个季度的内部试点项目。", "预算有限，希望方案尽量简单。",
               "大部分用户不懂技术。", "每天大约有{n}人会使用。"]
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s*")


def typical_descriptions(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """n (id, description) pairs varied from the golden cases."""
    cases = yaml.safe_load(GOLDEN.read_text("utf-8"))["cases"]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        case = cases[i % len(cases)]
        zh = case["lang"] == "zh"
        parts = [p for p in _SENTENCE.split(case["description"].strip()) if p]
        if len(parts) > 2 and rng.random() < 0.5:  # swap two middle sentences
            j = rng.randrange(1, len(parts) - 1)
            parts[j], parts[j + 1] = parts[j + 1], parts[j]
        extra = rng.choice(_CONTEXT_ZH if zh else _CONTEXT_EN).format(n=rng.randint(3, 900))
        parts.insert(0 if rng.random() < 0.5 else len(parts), extra)
        text = ("" if zh else " ").join(parts)
        text = re.sub(r"\b\d{2,}\b", lambda m: str(int(m.group()) + rng.randint(1, 9)), text)
        out.append((f"{case['id']}.{i}", text))
    return out


def write_input(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row_id, text in typical_descriptions(n):
            fh.write(json.dumps({"id": row_id, "description": text}, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- child

def _rss_kb(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def child(inp: Path, out: Path, fsync_every: int) -> dict:
    """One timed run in this process; returns the figures as a dict."""
    from agent.api import Advisor
    from agent.fronts.batch.run import run_file
    from agent.settings import Settings

    t0 = time.perf_counter()
    settings = Settings.from_env()
    adv = Advisor(settings, engine="offline")
    adv.index  # noqa: B018 - loaded from ADVISOR_HOME's cache
    startup = time.perf_counter() - t0
    samples: list[tuple[int, int]] = []  # (rows written, RSS kB)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            samples.append((out.stat().st_size if out.exists() else 0, _rss_kb()))

    threading.Thread(target=sample, daemon=True).start()
    stats = run_file(settings, str(inp), out, engine="offline", advisor=adv, progress=False,
                     fsync_every=fsync_every)
    stop.set()
    rows = stats.rows
    quarter = [kb for size, kb in samples if size > 0]
    return {"rows": rows, "ok": stats.ok, "failed": stats.failed, "seconds": round(stats.seconds, 2),
            "rows_per_s": round(stats.rate, 1), "startup_s": round(startup, 2),
            "wall_s": round(time.perf_counter() - t0, 2), "peak_rss_mb": round(_rss_kb("VmHWM") / 1024, 1),
            "rss_mb_at_10pct": round(quarter[len(quarter) // 10] / 1024, 1) if quarter else None,
            "rss_mb_at_end": round(quarter[-1] / 1024, 1) if quarter else None,
            "out_mb": round(out.stat().st_size / 2**20, 1)}


# --------------------------------------------------------------------------- parent

def bench(sizes: list[int], repeats: int, fsync_every: int, home: Path) -> list[dict]:
    env = {**os.environ, "ADVISOR_HOME": str(home)}
    # Build the index once, outside the timed runs.
    subprocess.run([sys.executable, "-c", "from agent.api import Advisor; Advisor(engine='offline').index"],
                   env=env, check=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        for n in sizes:
            inp = Path(tmp) / f"in-{n}.jsonl"
            write_input(inp, n)
            runs = []
            for r in range(repeats):
                out = Path(tmp) / f"out-{n}-{r}.jsonl"
                proc = subprocess.run([sys.executable, "-m", "evals.bench_batch", "--child", str(inp), str(out),
                                       "--fsync-every", str(fsync_every)], env=env, capture_output=True,
                                      text=True, check=True)
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(f"  n={n} run {r + 1}: {runs[-1]}", file=sys.stderr)
            med = {k: statistics.median(run[k] for run in runs) for k in
                   ("rows_per_s", "seconds", "startup_s", "peak_rss_mb", "rss_mb_at_10pct", "rss_mb_at_end")
                   if all(run[k] is not None for run in runs)}
            results.append({"n": n, "runs": len(runs), "fsync_every": fsync_every, "median": med,
                            "failed": runs[0]["failed"], "out_mb": runs[0]["out_mb"]})
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, action="append", help="rows (repeatable; default 1000 and 10000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per size (median reported)")
    ap.add_argument("--fsync-every", type=int, default=50, help="fsync OUT every N rows (default 50)")
    ap.add_argument("--child", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(Path(args.child[0]), Path(args.child[1]), args.fsync_every)))
        return
    home = Path(os.environ.get("ADVISOR_HOME") or Path(tempfile.gettempdir()) / "advisor-bench-home")
    results = bench(args.n or [1000, 10000], args.repeats, args.fsync_every, home)
    print(f"{'rows':>7} {'runs':>4} {'rows/s':>8} {'seconds':>8} {'startup s':>9} {'peak RSS MB':>11} "
          f"{'RSS@10% MB':>10} {'RSS@end MB':>10}")
    for r in results:
        m = r["median"]
        print(f"{r['n']:>7,} {r['runs']:>4} {m['rows_per_s']:>8.1f} {m['seconds']:>8.1f} {m['startup_s']:>9.2f} "
              f"{m['peak_rss_mb']:>11.1f} {m.get('rss_mb_at_10pct', 0):>10.1f} {m.get('rss_mb_at_end', 0):>10.1f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
