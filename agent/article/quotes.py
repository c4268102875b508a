"""The quote that backs each claim the advisor can make (knowledge/quotes.yaml), checked on load.

Which sentence states a claim is decided once, by reading the article, and kept as data: a
claim's quote does not depend on the project, so searching for it at run time could only pick
a worse one. On load every quote must be a verbatim span of its section and a statement, not a
transition or a question (rule Q-STRUCT).
"""
from __future__ import annotations

import re
from functools import lru_cache

import yaml
from ..yamlio import safe_load
from pydantic import ValidationError

from ..errors import UserError
from ..types import QuoteMap, Rule
from .source import Article, QuoteChecker, knowledge_dir, read_text_strict

QUOTES_FILE = "quotes.yaml"


# A sentence that ends by opening a list or a new part ("…还应该考虑几个关键方面:") introduces
# what follows; one that ends in a question mark asks. Neither states anything a reason can rest on.
_STRUCTURAL_END = re.compile(r"[:：?？]\s*$")
Q_STRUCT = Rule(
    "Q-STRUCT", "a sentence ending in a colon or a question mark is a transition or a question, never a quote",
    (("然而,在深入研究用例之前,我们在选择方法之前还应该考虑几个关键方面:", True),
     ("数据更新的频率如何?", True),
     ("让我们看看一些流行的用例以及如何使用上述框架来选择正确的方法:", True),
     ("如果答案是肯定的,RAG 可能是更好的选择。", False),
     ("微调可能会变得昂贵,尤其是对于非常大的模型。", False)),
)


def is_structural(sentence: str) -> bool:
    """Q-STRUCT: True for a transition (ends in a colon) or a question."""
    return bool(_STRUCTURAL_END.search(sentence))


@lru_cache(maxsize=1)
def load_quote_map() -> QuoteMap:
    """The validated quote map; a bad file is a one-line UserError."""
    path = knowledge_dir() / QUOTES_FILE
    try:
        return QuoteMap.model_validate(safe_load(read_text_strict(path)))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise UserError(f"{path}: invalid quote map: {str(exc).splitlines()[0]}") from exc


def check_quote_map(quotes: QuoteMap, article: Article) -> list[str]:
    """Every problem with the map: an unknown section, a quote not verbatim there, a structural quote."""
    checker, problems = QuoteChecker(article), []
    for claim, spec in quotes.claims.items():
        if spec.section not in article.by_id:
            problems.append(f"{claim}: unknown section {spec.section!r}")
        elif not checker.is_verbatim(spec.quote, spec.section):
            problems.append(f"{claim}: the quote is not a verbatim span of {spec.section}")
        if is_structural(spec.quote):
            problems.append(f"{claim}: {Q_STRUCT.id}: the quote is a transition or a question")
    return problems
