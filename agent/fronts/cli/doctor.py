"""`advisor doctor`: print the LLM checklist with ✓/✗ and exit 1 when something required fails."""
from __future__ import annotations

import json
from dataclasses import asdict
from typing import Optional

import typer

MARKS = {"ok": "✓", "fail": "✗", "skip": "–", "info": "·"}


def doctor(
    engine: Optional[str] = typer.Option(None, "--engine", help="offline, llm or auto."),
    model: Optional[str] = typer.Option(None, "--model", help="Chat model (ADVISOR_MODEL)."),
    base_url: Optional[str] = typer.Option(None, "--base-url",
                                           help="OpenAI-compatible endpoint (OPENAI_BASE_URL)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Check the LLM settings and endpoint; exit 1 if something required fails."""
    from ...api import Settings, run_checks, settings_failure  # not at import: `advisor --help` stays light

    try:
        settings = Settings.from_env(engine=engine, model=model, openai_base_url=base_url)
        checks = run_checks(settings)
    except ValueError as exc:  # pydantic's ValidationError, or e.g. ADVISOR_LLM_TIMEOUT that is not a number
        checks = [settings_failure(exc)]
    ok = not any(c.status == "fail" and c.required for c in checks)
    uses_llm = ok and any(c.name == "chat" and c.status == "ok" for c in checks)
    if json_out:
        form = next((c.detail.split(":", 1)[0] for c in checks
                     if c.name == "schema" and c.status in ("ok", "info")), None)
        typer.echo(json.dumps({"ok": ok, "engine": "llm" if uses_llm else "offline",
                               "structured_output": form,
                               "checks": [asdict(c) for c in checks]}, ensure_ascii=False))
    else:
        for c in checks:
            typer.echo(f"{MARKS[c.status]} {c.name:<9} {c.detail}")
        typer.echo(f"ok: the {'llm' if uses_llm else 'offline'} engine will be used" if ok else
                   "failed: fix the ✗ lines above")
    if not ok:
        raise typer.Exit(1)
