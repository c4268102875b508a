"""The LLM engine's notices in the user's language (en, zh), from prompts/notices.v1.yaml."""
from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Any, Optional

import yaml

from ..types import Lang


@lru_cache(maxsize=None)
def catalogue() -> dict:
    """The notice texts, per language."""
    return yaml.safe_load((files("prompts") / "notices.v1.yaml").read_text(encoding="utf-8"))


def detail(exc: Exception, lang: Lang) -> str:
    """An endpoint failure's one line, translated when its kind has a translation."""
    kind, info = getattr(exc, "kind", None), getattr(exc, "detail", {}) or {}
    template = catalogue().get(lang, {}).get("detail", {}).get(kind) if lang != "en" else None
    if template:
        try:
            return template.format(**info)
        except (KeyError, ValueError):
            pass
    return str(exc)


def why(key: str, lang: Lang, **values: Any) -> str:
    """A reason clause, e.g. why("unavailable", "zh", detail=…)."""
    return _table(lang)["why"][key].format(**values)


def notice(key: str, lang: Lang, why_text: Optional[str] = None, **values: Any) -> str:
    """A whole notice, e.g. notice("turn_offline", "en", why("schema", "en"))."""
    return _table(lang)[key].format(why=why_text, **values)


def _table(lang: Lang) -> dict:
    cat = catalogue()
    return cat.get(lang) or cat["en"]
