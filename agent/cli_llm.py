"""`advisor doctor`: check the LLM configuration and endpoint, and say plainly what is wrong."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Optional
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError

from .errors import EndpointError
from .llm.client import DEFAULT_BASE_URL, EndpointFailure, LLMClient, display_url
from .settings import Settings

MARKS = {"ok": "✓", "fail": "✗", "skip": "–", "info": "·"}


@dataclass
class Check:
    name: str
    status: str  # ok, fail, skip (not run), info (fine, worth knowing)
    detail: str
    required: bool = True


def mask(key: str) -> str:
    """Enough of a key to recognise it, never enough to use it."""
    if len(key) < 16:
        return f"set ({len(key)} characters)"
    return f"set ({key[:3]}…{key[-4:]}, {len(key)} characters)"


def run_checks(settings: Settings) -> list[Check]:
    """The checklist, in order; network checks stop at the first failure that blocks the rest."""
    checks = [Check("settings", "ok", f"engine={settings.engine}, model={settings.model}, "
                                      f"home={settings.home}")]
    if settings.engine == "offline":
        return checks + [Check("endpoint", "info", "engine is offline: no LLM is used", False)]
    if not settings.llm_configured:
        if settings.engine == "llm":
            return checks + [Check("endpoint", "fail", "no endpoint configured: set "
                                   "OPENAI_API_KEY (and OPENAI_BASE_URL for a local server)")]
        return checks + [Check("endpoint", "info", "no endpoint configured: auto uses the offline "
                               "engine (set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server)",
                               False)]
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    checks.append(Check("api key", "ok", mask(key)) if key else
                  Check("api key", "info", "not set (fine for a local server that needs none)", False))
    url = settings.openai_base_url or DEFAULT_BASE_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return checks + [Check("base URL", "fail", f"{display_url(url) or url!r} is not an http(s) "
                               "URL: set OPENAI_BASE_URL, e.g. http://localhost:11434/v1")]
    checks.append(Check("base URL", "ok", display_url(url)))
    return checks + _network_checks(settings)


def _network_checks(settings: Settings) -> list[Check]:
    # Two attempts and a short deadline: a doctor should answer in seconds.
    client = LLMClient(settings, attempts=2,
                       deadline=min(settings.llm_deadline, 2 * settings.llm_timeout + 1))
    checks: list[Check] = []
    try:
        models = client.models()
        checks.append(Check("/models", "ok", f"{len(models)} models listed"))
        listed = settings.model in models
        checks.append(Check("model", "ok" if listed else "info",
                            f"{settings.model} is listed" if listed else
                            f"{settings.model} is not listed; the chat check decides", False))
    except EndpointError as exc:
        # Some servers have no /models; only a plain 404 lets the chat check still run.
        soft = isinstance(exc, EndpointFailure) and exc.kind == "path"
        checks.append(Check("/models", "info" if soft else "fail", str(exc), not soft))
        if not soft:
            return checks + [Check("chat", "skip", "skipped: fix the line above first")]
    start = time.monotonic()
    try:
        reply = client.chat([{"role": "user", "content": "Reply with the single word: ok"}],
                            max_tokens=8, kind="doctor")
    except EndpointError as exc:
        return checks + [Check("chat", "fail", str(exc)),
                         Check("stream", "skip", "skipped: fix the line above first"),
                         Check("schema", "skip", "skipped: fix the line above first")]
    said = " ".join(reply.text.split())[:40]
    took = time.monotonic() - start
    if not said:
        # An empty reply is no answer: the engine would fall back on every call.
        return checks + [Check("chat", "fail", f"{settings.model} answered in {took:.1f} s with an "
                               f"empty reply (finish_reason={reply.finish_reason}): check the "
                               "model and the server's chat template"),
                         Check("stream", "skip", "skipped: fix the line above first"),
                         Check("schema", "skip", "skipped: fix the line above first")]
    checks.append(Check("chat", "ok", f"{settings.model} answered in {took:.1f} s: {said!r}"))
    client.forms.forget(client.form_key)  # learn afresh what the endpoint takes today
    return checks + [_stream_check(client), _structured_check(client)]


def _stream_check(client: LLMClient) -> Check:
    """Does the endpoint stream, and do its streams end with token counts?"""
    start = time.monotonic()
    try:
        text = "".join(client.stream([{"role": "user", "content": "Reply with the single word: ok"}],
                                     max_tokens=8, kind="doctor"))
    except EndpointError as exc:
        return Check("stream", "fail", str(exc))
    took = time.monotonic() - start
    if not text.strip():
        return Check("stream", "fail", f"the stream ended in {took:.1f} s with no text")
    if client.forms.stream_usage(client.form_key):
        return Check("stream", "ok", f"streamed in {took:.1f} s, with token counts")
    return Check("stream", "info", f"streamed in {took:.1f} s without token counts: the advice "
                 "is fetched whole, so that its usage is the server's own count", False)


def _structured_check(client: LLMClient) -> Check:
    """Which structured-output form the endpoint takes, learned afresh with a real reading."""
    from .llm.engine import extraction_schema
    from .llm.extraction import parse
    from .llm.forms import DESCRIBE
    from .llm.prompts import extract_messages

    start = time.monotonic()
    try:
        # A short text and a smaller cap: the probe is about the form, and a slow local
        # model should still answer it in seconds.
        reply = client.chat(extract_messages(DOCTOR_TEXT), max_tokens=DOCTOR_CAP,
                            kind="doctor", schema=extraction_schema(), schema_name="extraction")
    except EndpointError as exc:
        return Check("schema", "fail", str(exc))
    took = time.monotonic() - start
    form = f"{reply.form}: {DESCRIBE.get(reply.form, reply.form)}"
    try:
        parse(reply.text)
    except ValidationError:
        return Check("schema", "info", f"{form}; the reply did not fit the schema "
                     f"({took:.1f} s): the engine re-asks once, then reads offline", False)
    return Check("schema", "ok", f"{form}; a schema-valid reading in {took:.1f} s "
                 f"({reply.completion_tokens} tokens)")


DOCTOR_TEXT = "A bot that answers staff questions from our wiki."
DOCTOR_CAP = 160


def doctor(
    engine: Optional[str] = typer.Option(None, "--engine", help="offline, llm or auto."),
    model: Optional[str] = typer.Option(None, "--model", help="Chat model (ADVISOR_MODEL)."),
    base_url: Optional[str] = typer.Option(None, "--base-url",
                                           help="OpenAI-compatible endpoint (OPENAI_BASE_URL)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Check the LLM settings and endpoint; exit 1 if something required fails."""
    try:
        settings = Settings.from_env(engine=engine, model=model, openai_base_url=base_url)
        checks = run_checks(settings)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        checks = [Check("settings", "fail", f"{where}: {first['msg']}")]
    except ValueError as exc:  # e.g. ADVISOR_LLM_TIMEOUT that is not a number
        checks = [Check("settings", "fail", str(exc))]
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
