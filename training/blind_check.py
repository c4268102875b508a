"""The independent check of the corpus: a labeller who wrote none of it labels a sample from the text alone.

    python -m training.blind_check sample --files train/w9.jsonl ... --n 40 --out check/blind-input-r2.jsonl
    python -m training.blind_check score check/blind-labels-r2.jsonl

`sample` draws a seeded sample of descriptions and writes only what the labeller may see (id,
language, text). `score` compares the labeller's core facts with the sheets' and prints the
agreement per dimension and on the decision. Paths are relative to the corpus folder.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

from agent.deciding.policy import decision_of

from . import corpus as corpus_mod
from .sheets import CODES

SEED = 20261207


def sample(files: list[Path], n: int, out: Path, seed: int = SEED) -> int:
    """Write `n` descriptions per file (id, lang, text only) for the blind labeller."""
    rng = random.Random(seed)
    rows = []
    for f in files:
        descs = corpus_mod.load(files=[f], strict=False)
        rows += [{"id": d.id, "lang": d.lang, "text": d.text} for d in rng.sample(descs, min(n, len(descs)))]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


def score(labels: Path) -> dict:
    """Agreement of blind labels (`{"id", "facts": {code: yes|no}}` per line) with the sheets."""
    sheets = corpus_mod.load_sheets()
    per: Counter = Counter()
    agree: Counter = Counter()
    only_writer: Counter = Counter()
    only_blind: Counter = Counter()
    decisions = [0, 0]
    for line in labels.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        sheet = sheets[row["id"]]
        want, got = sheet["facts"], {k: v for k, v in row.get("facts", {}).items() if k in CODES}
        for code in CODES:
            if code in want and code in got:
                per[code] += 1
                agree[code] += want[code] == got[code]
            elif code in want:
                only_writer[code] += 1
            elif code in got:
                only_blind[code] += 1
        d_want = sheet["decision"]
        d_got = decision_of({CODES[k]: v for k, v in got.items()})
        decisions[0] += 1
        decisions[1] += d_want == d_got
    return {"descriptions": decisions[0], "decision_agreement": decisions[1],
            "facts": {c: f"{agree[c]}/{per[c]}" for c in CODES},
            "only_writer": dict(only_writer), "only_blind": dict(only_blind)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--files", nargs="+", required=True)
    s.add_argument("--n", type=int, default=40)
    s.add_argument("--out", required=True)
    c = sub.add_parser("score")
    c.add_argument("labels")
    args = ap.parse_args(argv)
    base = corpus_mod.CORPUS_DIR
    if args.cmd == "sample":
        k = sample([base / f for f in args.files], args.n, base / args.out)
        print(f"wrote {k} descriptions to {base / args.out}")
        return 0
    print(json.dumps(score(base / args.labels), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
