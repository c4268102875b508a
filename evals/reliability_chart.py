"""The reliability diagram: stated confidence against the share of decisions right, with counts.

Shared by `advisor eval` (golden cases) and `python -m evals.reading_eval` (reading sets); each
series is a `metrics.calibration` result.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping


def plot(series: Mapping[str, dict], path: Path, title: str = "Reliability of the decision's confidence") -> Path:
    """Write a PNG: per bin, accuracy against mean confidence (top) and the case count (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6.6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1.2]})
    top.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfectly calibrated")
    names = list(series)
    width = 0.1 / (len(names) or 1)
    for k, name in enumerate(names):
        cal = series[name]
        bins = [b for b in cal["bins"] if b["n"]]
        ece = "n/a" if cal.get("ece") is None else f"{cal['ece']:.3f}"
        line, = top.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o",
                         label=f"{name} (n={cal['n']}, ECE {ece})")
        if len(names) == 1:  # one series: label each point with its count
            for b in bins:
                top.annotate(f"n={b['n']}", (b["confidence"], b["accuracy"]), textcoords="offset points",
                             xytext=(4, -11), fontsize=7, color=line.get_color())
        lows = [b["lo"] + k * width for b in cal["bins"]]
        bottom.bar(lows, [b["n"] for b in cal["bins"]], width=width, align="edge", color=line.get_color(), alpha=0.7)
    top.set_ylabel("share of decisions right")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.04)
    top.legend(loc="upper left", fontsize=7)
    top.set_title(title)
    bins_count = next(iter(series.values()))["bins_count"] if series else 10
    bottom.set_xticks([i / bins_count for i in range(bins_count + 1)])
    bottom.set_xlabel(f"stated confidence in the decision ({bins_count} equal bins)")
    bottom.set_ylabel("cases")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
