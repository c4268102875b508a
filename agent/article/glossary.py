"""The glossary that lets an English query find the Chinese article (knowledge/glossary.yaml)."""
from __future__ import annotations

import re
from functools import lru_cache

from ..errors import UserError
from ..textproc import tokenize
from ..types import Glossary
from .source import knowledge_dir, read_text_strict


@lru_cache(maxsize=1)
def _glossary() -> list[tuple[re.Pattern, list[str]]]:
    import yaml
    from ..yamlio import safe_load
    from pydantic import ValidationError

    path = knowledge_dir() / "glossary.yaml"
    try:
        g = Glossary.model_validate(safe_load(read_text_strict(path)))
        return [(re.compile(k, re.I), v) for k, v in g.terms.items()]
    except (yaml.YAMLError, ValidationError, re.error, OSError) as exc:
        raise UserError(f"{path}: invalid glossary: {str(exc).splitlines()[0]}") from exc


def expansion_tokens(query: str) -> list[str]:
    """Chinese terms (as tokens) for the ideas an English query names, from knowledge/glossary.yaml."""
    out: list[str] = []
    for pattern, terms in _glossary():
        if pattern.search(query):
            for term in terms:
                out.extend(tokenize(term))
    return out
