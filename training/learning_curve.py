"""Learning curve: the reader trained on growing shares of the train split, scored on tuning sets.

`python -m training.learning_curve [--fractions 0.1 0.25 0.5 1] [--png FILE]` retrains the heads
on the corpus alone (nothing is written to the shipped model, and the golden suite and dev rounds,
which the shipped description head also learns from, are left out) and scores each on the corpus
dev split, the golden suite and the earlier dev rounds. The held-aside test set is never scored here: it is scored once,
by `evals.reading_eval --set test`, on the shipped model.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agent.reading.encoder import ClauseEncoder
from agent.reading.heads import Heads
from agent.reading.learned import LearnedReader
from evals import reading_eval

from . import corpus as corpus_mod
from .train_heads import VectorCache, build

SETS = ("corpus-dev", "golden", "dev-rounds")


def curve(fractions: list[float]) -> list[dict]:
    """One row per fraction: train descriptions and decision accuracy on each tuning set."""
    descs = corpus_mod.load(strict=False)
    encoder = ClauseEncoder()
    cache = VectorCache(encoder)
    sets = {s: reading_eval.SETS[s]() for s in SETS}
    rows = []
    for f in fractions:
        # corpus only (extra=[]): the golden and dev suites stay unseen, so they measure reading here
        weights, meta = build(descs, cache, quiet=True, train_fraction=f, extra=[])
        reader = LearnedReader(heads=Heads(weights, meta), encoder=encoder)
        row = {"fraction": f, "train_descriptions": meta["train_descriptions"]}
        for name, cases in sets.items():
            res = reading_eval.evaluate(reader, cases)
            row[name] = res["decision_accuracy"]
            if name == "corpus-dev":
                row["corpus-dev per dimension"] = res["per_dimension"]
        print(json.dumps(row, ensure_ascii=False), file=sys.stderr)
        rows.append(row)
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name in SETS:
        ax.plot([r["train_descriptions"] for r in rows], [r[name] for r in rows], marker="o", label=name)
    ax.set_xlabel("training descriptions")
    ax.set_ylabel("decision accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.25, 0.5, 1.0])
    ap.add_argument("--png", type=Path, help="write the curve here")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args(argv)
    if any(not 0 < f <= 1 for f in args.fractions):
        print("error: each fraction must be in (0, 1]", file=sys.stderr)
        return 2
    rows = curve(args.fractions)
    print("| train descriptions | " + " | ".join(SETS) + " |")
    print("| --- | " + " | ".join("---" for _ in SETS) + " |")
    for r in rows:
        print(f"| {r['train_descriptions']} | " + " | ".join(f"{r[s]:.3f}" for s in SETS) + " |")
    if args.png:
        plot(rows, args.png)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
