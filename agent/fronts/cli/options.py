"""Options and settings shared by every `advisor` command."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from ...errors import UserError

if TYPE_CHECKING:
    from ...api import Settings

EngineOpt = typer.Option(None, "--engine", help="offline, llm or auto (default: auto).")
ModelOpt = typer.Option(None, "--model", help="LLM model name (env ADVISOR_MODEL).")
BaseUrlOpt = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint (env OPENAI_BASE_URL).")
EmbOpt = typer.Option(None, "--embeddings", help="local (default, bundled model) or openai.")


def settings(model: Optional[str] = None, base_url: Optional[str] = None,
             embeddings: Optional[str] = None, engine: Optional[str] = None) -> "Settings":
    """Settings from the environment with the command's flags on top (pydantic loads here, not at start-up)."""
    from ...api import Settings

    if embeddings not in (None, "local", "openai"):
        raise UserError(f"unknown embeddings {embeddings!r}: use local or openai")
    if engine not in (None, "offline", "llm", "auto"):
        raise UserError(f"unknown engine {engine!r}: use offline, llm or auto")
    return Settings.from_env(model=model, openai_base_url=base_url, embeddings=embeddings, engine=engine)
