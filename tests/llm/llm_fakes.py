"""Shared bits of the LLM tests: the test key, stand-ins for the offline engine and the
retriever, and a ready-made recommendation."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

from agent.types import (Citation, DimensionValue, OpenQuestion, Profile, Reason, Recommendation,
                         SearchResponse, SearchResult)

CASSETTES = Path(__file__).parent / "cassettes"
TEST_KEY = "sk-test-advisor-0123456789abcdef"  # the only key the fake server accepts
OFFLINE_ADVICE = "Offline advice: use RAG."


class FakeFallback:
    """Implements the Engine protocol and records what it was asked."""

    name = "offline"

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.notices: list[str] = []

    def extract(self, text: str, lang: str, asked: Optional[str] = None) -> Profile:
        self.calls.append(("extract", text, lang, asked))
        return Profile(cost=DimensionValue(value="yes", source="assumed"))  # recognisable

    def phrase_question(self, dimension: str, lang: str, profile: Profile) -> str:
        self.calls.append(("phrase_question", dimension, lang))
        if lang == "zh":
            return f"关于{dimension}：您能多说一点吗？"
        return f"Could you tell me more about {dimension}?"

    def write_advice(self, rec: Recommendation) -> Iterator[str]:
        self.calls.append(("write_advice", rec.decision))
        yield OFFLINE_ADVICE

    def drain_notices(self) -> list[str]:
        notes, self.notices = self.notices, []
        return notes

    def used(self, what: str) -> int:
        return sum(1 for c in self.calls if c[0] == what)


class FakeRetriever:
    """Returns fixed passages and remembers the queries."""

    def __init__(self, texts: Optional[list[str]] = None) -> None:
        self.queries: list[tuple[str, int]] = []
        self.texts = texts or [
            "如果你的应用需要访问外部数据源，RAG 系统可能更有效。",
            "微调可以让模型适应特定的写作风格或领域术语。",
        ]

    def search(self, query: str, k: int) -> SearchResponse:
        self.queries.append((query, k))
        results = [SearchResult(section_id=f"s{i}", heading_path=["h"], score=1.0 / (i + 1),
                                text=t, source_start=0, source_end=len(t))
                   for i, t in enumerate(self.texts[:k])]
        return SearchResponse(query=query, results=results)


def make_rec(lang: str = "en", decision: str = "rag") -> Recommendation:
    c1 = Citation(section_id="questions.external-data", heading_path=["1. 需要访问外部数据源?"],
                  quote="RAG 系统可能更有效")
    c2 = Citation(section_id="questions.dynamic-data", heading_path=["5. 数据是动态的吗?"],
                  quote="RAG 的优势在于能够持续查询外部数据源")
    evidence = "questions about our internal wiki" if lang == "en" else "回答关于内部维基的问题"
    profile = Profile(external_knowledge=DimensionValue(value="yes", evidence=evidence,
                                                        source="stated"))
    return Recommendation(
        decision=decision, confidence=0.8, engine="llm", lang=lang, profile=profile,
        rationale=[Reason(dimension="external_knowledge",
                          text="The answers come from documents the model has not seen.",
                          citations=[c1])],
        citations=[c1, c2],
        open_questions=[OpenQuestion(dimension="data_dynamics", question="How often does it change?",
                                     why="dynamic data favours RAG")],
        decided_by=["external_knowledge"])
