"""Choosing the engine from settings: offline, llm, or auto (llm when an endpoint is set)."""
from __future__ import annotations

from typing import Any

from ..engine import Engine
from ..errors import UserError
from ..settings import Settings

AUTO_OFFLINE = ("no LLM endpoint configured (OPENAI_API_KEY / OPENAI_BASE_URL): "
                "using the offline engine")


class _Announced:
    """An engine whose first drain_notices() also carries one notice of ours."""

    def __init__(self, engine: Engine, notice: str):
        self._engine = engine
        self._pending = [notice]
        self.name = engine.name

    def drain_notices(self) -> list[str]:
        notes, self._pending = self._pending + list(self._engine.drain_notices()), []
        return notes

    def __getattr__(self, attr: str) -> Any:  # extract, phrase_question, write_advice, usage…
        return getattr(self._engine, attr)


def make_engine(settings: Settings, fallback: Engine, retriever: Any = None) -> Engine:
    """The engine `settings.engine` names; `fallback` is the offline engine."""
    if settings.engine == "offline":
        return fallback
    if not settings.llm_configured:
        if settings.engine == "llm":
            raise UserError("--engine llm needs an endpoint: set OPENAI_API_KEY (and "
                            "OPENAI_BASE_URL for a local server), or use --engine offline")
        return _Announced(fallback, AUTO_OFFLINE)
    from .engine import LLMEngine

    return LLMEngine(settings, fallback, retriever)
