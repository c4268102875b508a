"""Retrieval hit rates on the bundled question set: `python -m evals.retrieval_eval [--json]`.

A question is a hit at k when any of its expected sections is among the sections of the top-k
passages.
"""
from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel

from agent.types import RetrievalQuestion


class QuestionSet(BaseModel):
    suite: str
    questions: list[RetrievalQuestion]


def load_questions(path: Path | None = None) -> QuestionSet:
    path = path or Path(str(resources.files("evals"))) / "retrieval" / "questions.v1.yaml"
    return QuestionSet.model_validate(yaml.safe_load(path.read_text("utf-8")))


def hit_rates(index, qs: QuestionSet, ks=(1, 3, 5)) -> dict:
    """Top-k hit rates overall and per language, plus the misses at k=3."""
    hits = {k: 0 for k in ks}
    by_lang: dict[str, dict[int, int]] = {}
    misses = []
    for q in qs.questions:
        ranked = [r.section_id for r in index.search(q.q, max(ks))]
        lang = by_lang.setdefault(q.lang, {k: 0 for k in ks} | {"n": 0})
        lang["n"] += 1
        for k in ks:
            if set(ranked[:k]) & set(q.expect):
                hits[k] += 1
                lang[k] += 1
        if not set(ranked[:3]) & set(q.expect):
            misses.append({"q": q.q, "expect": q.expect, "got": ranked[:3]})
    n = len(qs.questions)
    return {"n": n, **{f"top{k}": round(hits[k] / n, 3) for k in ks},
            "by_lang": {l: {f"top{k}": round(v[k] / v["n"], 3) for k in ks} | {"n": v["n"]} for l, v in by_lang.items()},
            "misses": misses}


def main() -> None:
    from agent.api import Advisor

    result = hit_rates(Advisor(engine="offline").index, load_questions())
    if "--json" in sys.argv:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(f"{result['n']} questions: top-1 {result['top1']:.3f}  top-3 {result['top3']:.3f}  top-5 {result['top5']:.3f}")
    for lang, v in result["by_lang"].items():
        print(f"  {lang} ({v['n']}): top-1 {v['top1']:.3f}  top-3 {v['top3']:.3f}")
    for m in result["misses"]:
        print(f"  miss: {m['q']}  expect {m['expect']}  got {m['got']}")


if __name__ == "__main__":
    main()
