"""The coverage map as data (knowledge/coverage.yaml): valid, consistent with the quote map and the
advice's "outside the article" topics, and the generated table in docs/ is current."""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.article.coverage import aspects, check_aspects, to_markdown
from agent.article.quotes import load_quote_map
from agent.article.source import load_article
from agent.types import CoverageAspect
from agent.wording import wording

ROOT = Path(__file__).resolve().parents[1]


def test_every_claim_and_section_exists():
    assert check_aspects(aspects(), load_quote_map().claims, load_article().by_id) == []


def test_the_check_and_the_schema_catch_bad_entries():
    bad = [CoverageAspect(id="a", title_en="A", status="quoted", claims=["no.such.claim"]),
           CoverageAspect(id="a", title_en="A", status="mentioned", sections=["no.such.section"])]
    problems = check_aspects(bad, load_quote_map().claims, load_article().by_id)
    assert "a: unknown claim 'no.such.claim'" in problems and "a: duplicate id" in problems
    assert "a: unknown section 'no.such.section'" in problems
    with pytest.raises(ValidationError):
        CoverageAspect(id="b", title_en="B", status="not_covered", claims=["caveat.cost"])
    with pytest.raises(ValidationError):
        CoverageAspect(id="c", title_en="C", status="quoted")


def test_what_the_advice_calls_outside_the_article_is_never_quoted_and_has_its_question():
    by_id = {a.id: a for a in aspects()}
    for topic in wording().outside_article["en"]:
        assert by_id[topic].status != "quoted", topic
        assert by_id[topic].question == wording().outside_article["en"][topic].q
    assert by_id["prompting"].status == "mentioned"  # the article never recommends using neither


def test_the_advisor_serves_the_aspects():
    from agent.api import Advisor

    cov = Advisor(engine="offline").coverage()
    assert {a.status for a in cov.aspects} == {"quoted", "mentioned", "not_covered"}


def test_the_docs_table_is_generated_from_the_data():
    assert (ROOT / "docs" / "coverage.md").read_text("utf-8") == to_markdown(aspects()), \
        "docs/coverage.md is stale: run `make coverage-doc`"
