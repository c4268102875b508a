"""How well a reader reads: decision and per-dimension accuracy, confidence, errors by family.

    python -m evals.reading_eval --set test            # the held-aside test set (score once)
    python -m evals.reading_eval --set corpus-dev      # the corpus's dev split, by family
    python -m evals.reading_eval --set golden --set dev-rounds
    python -m evals.reading_eval --set test --reader tuned     # reader (b), the fine-tuned encoder

Each case is read, its profile decided by the policy, and compared with the labels. The
decision's confidence is the one `advisor recommend` shows: the probability of the chosen
decision given the reader's calibrated per-dimension distributions (the policy's own figure
when the text contradicts itself); the expected calibration error and a reliability diagram
(PNG, with counts) show whether it is honest (binning: evals/metrics.py, decision_calibration).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.types import CORE_DIMENSIONS
from evals import metrics

CODES = {"ek": "external_knowledge", "ma": "model_adaptation", "hc": "hallucination_critical",
         "ld": "labeled_data", "dd": "data_dynamics", "tr": "transparency"}
TEST_DIR = Path(__file__).resolve().parent / "reading" / "test.v1"


class TestCase(BaseModel):
    """One held-aside test description (evals/reading/test.v1/*.jsonl)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^t\d+\.\d{4}$")
    lang: Literal["en", "zh"]
    genre: str = Field(alias="register")
    domain: str
    text: str = Field(min_length=1)
    facts: dict[Literal["ek", "ma", "hc", "ld", "dd", "tr"], Literal["yes", "no"]]
    note: str = ""


@dataclass
class Case:
    id: str
    lang: str
    text: str
    facts: dict[str, str]  # core dimension -> yes/no (absent: not settled)
    decision: str
    group: str = ""  # family, register or tag: what errors are broken down by
    extra: dict = field(default_factory=dict)


def load_test(directory: Path = TEST_DIR) -> list[Case]:
    """The held-aside test set, validated; a bad line stops with its file and line number."""
    from agent.deciding.policy import decision_of

    out = []
    for f in sorted(directory.glob("*.jsonl")):
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                c = TestCase.model_validate_json(line)
            except ValidationError as e:
                raise SystemExit(f"{f.name}:{n}: {str(e).splitlines()[0]} {str(e).splitlines()[-1]}")
            facts = {CODES[k]: v for k, v in c.facts.items()}
            out.append(Case(c.id, c.lang, c.text, facts, decision_of(facts), group=c.genre))
    return out


def load_corpus_dev() -> list[Case]:
    from training.corpus import load
    from training.train_heads import split_of

    out = []
    for d in load(strict=False):
        if split_of(d.id) != "dev":
            continue
        facts: dict[str, str] = {}
        for c in d.clauses:
            facts.update({k: v for k, v in c.facts.items() if k in CORE_DIMENSIONS})
        out.append(Case(d.id, d.lang, d.text, facts, d.decision, group=d.family, extra={"genre": d.genre}))
    return out


def load_golden(which: str) -> list[Case]:
    from evals.cases import load_suite

    base = Path(__file__).resolve().parent / "golden"
    path = base / ("advisor.golden.v1.yaml" if which == "golden" else "advisor.dev.v1.yaml")
    suite = load_suite(path)
    return [Case(c.id, c.lang, c.description, {k: v for k, v in c.expected.profile.items() if k in CORE_DIMENSIONS},
                 c.expected.decision, group=(c.tags[0] if c.tags else ""), extra={"golden": True})
            for c in suite.cases]


SETS = {"test": load_test, "corpus-dev": load_corpus_dev,
        "golden": lambda: load_golden("golden"), "dev-rounds": lambda: load_golden("dev")}


def make_reader(name: str):
    if name == "learned":
        from agent.reading.learned import LearnedReader

        return LearnedReader()
    if name == "tuned":  # reader (b): heads on the fine-tuned encoder
        from agent.reading.heads import Heads
        from agent.reading.learned import LearnedReader
        from agent.reading.tuned import MODEL_B_DIR, tuned_encoder

        return LearnedReader(heads=Heads.load(MODEL_B_DIR), encoder=tuned_encoder())
    raise SystemExit(f"unknown reader {name!r}")


def evaluate(reader, cases: list[Case]) -> dict:
    """Read every case; accuracies, confidence and the misreads."""
    from agent.deciding.policy import decide, decision_probabilities

    rows = []
    t0 = time.perf_counter()
    for c in cases:
        r = reader.read(c.text)
        out = decide(r.profile, on_topic=r.on_topic, contradictions=r.contradictions)
        dists = r.distributions or {d: {r.profile.get(d).value: 1.0} for d in CORE_DIMENSIONS}
        # As Advisor.recommend does: a contradiction keeps the policy's confidence.
        conf = out.confidence if out.contradictions else round(decision_probabilities(dists).get(out.decision, 0.0), 2)
        got = {d: r.profile.get(d).value for d in CORE_DIMENSIONS}
        want = {d: c.facts.get(d, "unknown") for d in CORE_DIMENSIONS}
        dim_p = {d: (dists.get(d, {}).get(got[d], 1.0)) for d in CORE_DIMENSIONS}
        rows.append({"id": c.id, "lang": c.lang, "group": c.group, "want": c.decision, "got": out.decision,
                     "confidence": round(conf, 3), "dims_wrong": {d: [want[d], got[d]] for d in CORE_DIMENSIONS
                                                                  if want[d] != got[d]},
                     "dim_p": dim_p, "dim_ok": {d: want[d] == got[d] for d in CORE_DIMENSIONS}})
    elapsed = time.perf_counter() - t0
    return summarise(rows, elapsed)


def summarise(rows: list[dict], elapsed: float) -> dict:
    n = len(rows)
    ok = [r["got"] == r["want"] for r in rows]

    def acc(sel):
        sel = list(sel)
        return round(sum(sel) / len(sel), 3) if sel else None

    by = defaultdict(list)
    for r, k in zip(rows, ok):
        by[("lang", r["lang"])].append(k)
        by[("group", r["group"])].append(k)
        by[("want", r["want"])].append(k)
    dims = {d: acc(r["dim_ok"][d] for r in rows) for d in CORE_DIMENSIONS}
    hi = [k for r, k in zip(rows, ok) if r["confidence"] >= 0.8]
    bins = [[0, 0] for _ in range(10)]
    for r, k in zip(rows, ok):
        b = min(9, int(r["confidence"] * 10))
        bins[b][0] += 1
        bins[b][1] += int(k)
    confusion = Counter((r["want"], r["got"]) for r in rows)
    cal = metrics.calibration([r["confidence"] for r in rows], ok)
    return {
        "cases": n, "decision_accuracy": acc(ok), "per_dimension": dims,
        "by_lang": {k[1]: acc(v) for k, v in by.items() if k[0] == "lang"},
        "by_group": {k[1]: [acc(v), len(v)] for k, v in sorted(by.items()) if k[0] == "group"},
        "by_expected": {k[1]: [acc(v), len(v)] for k, v in sorted(by.items()) if k[0] == "want"},
        "ece": None if cal["ece"] is None else round(cal["ece"], 4), "calibration": cal,
        "confident": {"threshold": 0.8, "share": round(len(hi) / n, 3) if n else None, "accuracy": acc(hi)},
        "reliability": [{"bin": f"{i / 10:.1f}-{(i + 1) / 10:.1f}", "n": b[0],
                         "accuracy": round(b[1] / b[0], 3) if b[0] else None} for i, b in enumerate(bins)],
        "confusion": {f"{w}->{g}": c for (w, g), c in sorted(confusion.items()) if w != g},
        "ms_per_case": round(1000 * elapsed / n, 2) if n else None,
        "errors": [{k: r[k] for k in ("id", "want", "got", "confidence", "dims_wrong")} for r, k in zip(rows, ok)
                   if not k],
        "rows": rows,
    }


def reliability_png(results: dict[str, dict], path: Path) -> None:
    """Accuracy against stated confidence (each bin at its mean confidence), one line per set, with counts."""
    from evals.reliability_chart import plot

    plot({name: res["calibration"] for name, res in results.items()}, path,
         title="Reliability of the advisor's confidence")


def table(results: dict[str, dict]) -> str:
    lines = ["| set | cases | decision | " + " | ".join(CORE_DIMENSIONS) + " | conf ≥ 0.8: share / acc | ECE | ms/case |",
             "|---" * (6 + len(CORE_DIMENSIONS)) + "|"]
    for name, r in results.items():
        dims = " | ".join(f"{r['per_dimension'][d]:.3f}" for d in CORE_DIMENSIONS)
        c = r["confident"]
        lines.append(f"| {name} | {r['cases']} | {r['decision_accuracy']:.3f} | {dims} | "
                     f"{c['share']} / {c['accuracy']} | {r['ece']} | {r['ms_per_case']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Score a reader on labelled descriptions.")
    ap.add_argument("--set", action="append", choices=sorted(SETS), help="which set(s); default: test")
    ap.add_argument("--reader", default="learned", choices=["learned", "tuned"],
                    help="learned: heads on the frozen encoder (shipped); tuned: reader (b), the fine-tuned encoder")
    ap.add_argument("--json", type=Path, help="write every result (with per-case rows) here")
    ap.add_argument("--png", type=Path, help="write a reliability diagram here")
    ap.add_argument("--errors", action="store_true", help="print the misread cases")
    args = ap.parse_args(argv)
    reader = make_reader(args.reader)
    results = {}
    for s in args.set or ["test"]:
        results[s] = evaluate(reader, SETS[s]())
    print(table(results))
    for s, r in results.items():
        print(f"\n{s}: by expected decision {r['by_expected']}\n{s}: by group {r['by_group']}\n"
              f"{s}: confusions {r['confusion']}")
        if args.errors:
            for e in r["errors"]:
                print(f"  {e['id']}: want {e['want']} got {e['got']} ({e['confidence']}) {e['dims_wrong']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    if args.png:
        reliability_png(results, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
