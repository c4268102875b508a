"""Ingestion keeps every body sentence exactly once and drops the page chrome."""
import re

import pytest

from agent.article.chunking import chunk_article
from agent.errors import UserError
from agent.article.source import QuoteChecker, load_article, locate, squash
from agent.types import SectionMap

pytestmark = pytest.mark.no_index_seed

CHROME = ["logo", "在社区内搜索", "版权声明", "如有侵权", "智能创作", "DuChatBeta", "百度地图", "CodePen",
          "Figma", "思维导图", "甘特视图", "用户头像", "评论", "阅读统计", "超链接"]


@pytest.fixture(scope="module")
def article():
    return load_article()


def knowledge_text(article) -> str:
    return "\n".join(s.text for s in article.sections)


def test_source_is_committed_verbatim(article):
    assert article.source.startswith("logo\n在社区内搜索")
    seed_bytes = 28015  # size of the seed file this repo was given
    assert len(article.source.encode("utf-8")) == seed_bytes


def test_no_chrome_word_survives(article):
    text = knowledge_text(article)
    for word in CHROME:
        assert word not in text, word


def test_every_body_sentence_kept_exactly_once(article):
    src = article.source
    first = src.index("引言")
    end = src.index("————————————————")
    body = src[first:end]
    headings = {s.heading for s in article.sections if not s.inline_heading}
    body = "\n".join(line for line in body.splitlines() if line.strip() not in headings)
    sentences = [s.strip() for s in re.split(r"[。！？!?\n]", body) if s.strip()]
    text = knowledge_text(article)
    assert len(sentences) > 150
    for s in sentences:
        assert text.count(s) == body.count(s), s


def test_repeated_introduction_is_not_knowledge(article):
    intro = "随着人们对大型语言模型 (LLM) 的兴趣激增"
    assert article.source.count(intro) == 2
    assert knowledge_text(article).count(intro) == 1


def test_sections_are_disjoint_in_order_and_verbatim(article):
    prev_end = 0
    for s in article.sections:
        assert s.start >= prev_end
        assert article.source[s.start:s.end] == s.text
        prev_end = s.end
        for heading in s.heading_path:
            assert re.search(r"^" + re.escape(heading), article.source, re.M), heading


def test_heading_path_of_use_case_subsection(article):
    s = article.section("use-cases.customer-support.hallucination")
    assert s.heading_path[-1] == "3. 减少幻觉至关重要?"
    assert s.heading_path[-2].startswith("客户支持自动化")


def test_chunks_stay_in_one_section_and_are_quotable(article):
    chunks = chunk_article(article)
    spans = {s.id: (s.start, s.end) for s in article.sections}
    for c in chunks:
        a, b = spans[c.section_id]
        assert a <= c.source_start < c.source_end <= b
        assert article.source[c.source_start:c.source_end] == c.text
        assert len(c.text) <= 200


def test_quote_checker_accepts_spans_and_rejects_inventions(article):
    qc = QuoteChecker(article)
    assert qc.is_verbatim("RAG 系统本质上不太容易产生幻觉", "considerations.hallucination")
    assert qc.is_verbatim("RAG   系统本质上\n不太容易产生幻觉")  # white space aside
    assert not qc.is_verbatim("RAG 系统永远不会产生幻觉")
    assert not qc.is_verbatim("RAG 系统本质上不太容易产生幻觉", "other-aspects.cost")
    assert not qc.is_verbatim("图片由作者提供" + "x")
    assert squash(" a b\n") == "ab"


def test_a_heading_missing_from_the_source_is_a_user_error(article):
    data = article.section_map.model_dump()
    data["sections"][3]["heading"] = "不存在的标题"
    with pytest.raises(UserError, match="not found"):
        locate(article.source, SectionMap.model_validate(data))


def test_section_map_schema_rejects_unknown_dimension(article):
    data = article.section_map.model_dump()
    data["sections"][4]["dimensions"] = ["telepathy"]
    with pytest.raises(Exception):
        SectionMap.model_validate(data)
