"""The doctor's checklist: the LLM settings and endpoint, each check saying plainly what is wrong."""
from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import ValidationError

from ..errors import EndpointError
from ..llm.client import DEFAULT_BASE_URL, EndpointFailure, LLMClient, display_url
from ..settings import Settings

@dataclass
class DoctorCheck:
    name: str
    status: str  # ok, fail, skip (not run), info (fine, worth knowing)
    detail: str
    required: bool = True


def mask(key: str) -> str:
    """Enough of a key to recognise it, never enough to use it."""
    if len(key) < 16:
        return f"set ({len(key)} characters)"
    return f"set ({key[:3]}…{key[-4:]}, {len(key)} characters)"


def run_checks(settings: Settings) -> list[DoctorCheck]:
    """The checklist, in order; network checks stop at the first failure that blocks the rest."""
    checks = [DoctorCheck("settings", "ok", f"engine={settings.engine}, model={settings.model}, "
                                      f"home={settings.home}")]
    if settings.engine == "offline":
        return checks + [DoctorCheck("endpoint", "info", "engine is offline: no LLM is used", False)]
    if not settings.llm_configured:
        if settings.engine == "llm":
            return checks + [DoctorCheck("endpoint", "fail", "no endpoint configured: set "
                                   "OPENAI_API_KEY (and OPENAI_BASE_URL for a local server)")]
        return checks + [DoctorCheck("endpoint", "info", "no endpoint configured: auto uses the offline "
                               "engine (set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server)",
                               False)]
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    checks.append(DoctorCheck("api key", "ok", mask(key)) if key else
                  DoctorCheck("api key", "info", "not set (fine for a local server that needs none)", False))
    url = settings.openai_base_url or DEFAULT_BASE_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return checks + [DoctorCheck("base URL", "fail", f"{display_url(url) or url!r} is not an http(s) "
                               "URL: set OPENAI_BASE_URL, e.g. http://localhost:11434/v1")]
    checks.append(DoctorCheck("base URL", "ok", display_url(url)))
    return checks + _network_checks(settings)


def _network_checks(settings: Settings) -> list[DoctorCheck]:
    # Two attempts and a short deadline: a doctor should answer in seconds.
    client = LLMClient(settings, attempts=2,
                       deadline=min(settings.llm_deadline, 2 * settings.llm_timeout + 1))
    checks: list[DoctorCheck] = []
    try:
        models = client.models()
        checks.append(DoctorCheck("/models", "ok", f"{len(models)} models listed"))
        listed = settings.model in models
        checks.append(DoctorCheck("model", "ok" if listed else "info",
                            f"{settings.model} is listed" if listed else
                            f"{settings.model} is not listed; the chat check decides", False))
    except EndpointError as exc:
        # Some servers have no /models; only a plain 404 lets the chat check still run.
        soft = isinstance(exc, EndpointFailure) and exc.kind == "path"
        checks.append(DoctorCheck("/models", "info" if soft else "fail", str(exc), not soft))
        if not soft:
            return checks + [DoctorCheck("chat", "skip", "skipped: fix the line above first")]
    start = time.monotonic()
    try:
        reply = client.chat([{"role": "user", "content": "Reply with the single word: ok"}],
                            max_tokens=8, kind="doctor")
    except EndpointError as exc:
        return checks + [DoctorCheck("chat", "fail", str(exc)),
                         DoctorCheck("stream", "skip", "skipped: fix the line above first"),
                         DoctorCheck("schema", "skip", "skipped: fix the line above first")]
    said = " ".join(reply.text.split())[:40]
    took = time.monotonic() - start
    if not said:
        # An empty reply is no answer: the engine would fall back on every call.
        return checks + [DoctorCheck("chat", "fail", f"{settings.model} answered in {took:.1f} s with an "
                               f"empty reply (finish_reason={reply.finish_reason}): check the "
                               "model and the server's chat template"),
                         DoctorCheck("stream", "skip", "skipped: fix the line above first"),
                         DoctorCheck("schema", "skip", "skipped: fix the line above first")]
    checks.append(DoctorCheck("chat", "ok", f"{settings.model} answered in {took:.1f} s: {said!r}"))
    client.forms.forget(client.form_key)  # learn afresh what the endpoint takes today
    return checks + [_stream_check(client), _structured_check(client)]


def _stream_check(client: LLMClient) -> DoctorCheck:
    """Does the endpoint stream, and do its streams end with token counts?"""
    start = time.monotonic()
    try:
        text = "".join(client.stream([{"role": "user", "content": "Reply with the single word: ok"}],
                                     max_tokens=8, kind="doctor"))
    except EndpointError as exc:
        return DoctorCheck("stream", "fail", str(exc))
    took = time.monotonic() - start
    if not text.strip():
        return DoctorCheck("stream", "fail", f"the stream ended in {took:.1f} s with no text")
    if client.forms.stream_usage(client.form_key):
        return DoctorCheck("stream", "ok", f"streamed in {took:.1f} s, with token counts")
    return DoctorCheck("stream", "info", f"streamed in {took:.1f} s without token counts: the advice "
                 "is fetched whole, so that its usage is the server's own count", False)


def _structured_check(client: LLMClient) -> DoctorCheck:
    """Which structured-output form the endpoint takes, learned afresh with a real reading."""
    from .llm import extraction_schema
    from ..reading.llm import parse
    from ..llm.forms import DESCRIBE
    from .llm_prompts import extract_messages

    start = time.monotonic()
    try:
        # A short text and a smaller cap: the probe is about the form, and a slow local
        # model should still answer it in seconds.
        reply = client.chat(extract_messages(DOCTOR_TEXT), max_tokens=DOCTOR_CAP,
                            kind="doctor", schema=extraction_schema(), schema_name="extraction")
    except EndpointError as exc:
        return DoctorCheck("schema", "fail", str(exc))
    took = time.monotonic() - start
    form = f"{reply.form}: {DESCRIBE.get(reply.form, reply.form)}"
    try:
        parse(reply.text)
    except ValidationError:
        return DoctorCheck("schema", "info", f"{form}; the reply did not fit the schema "
                     f"({took:.1f} s): the engine re-asks once, then reads offline", False)
    return DoctorCheck("schema", "ok", f"{form}; a schema-valid reading in {took:.1f} s "
                 f"({reply.completion_tokens} tokens)")


DOCTOR_TEXT = "A bot that answers staff questions from our wiki."
DOCTOR_CAP = 160


def settings_failure(exc: Exception) -> DoctorCheck:
    """The failed `settings` check for settings that do not validate."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return DoctorCheck("settings", "fail", f"{where}: {first['msg']}")
    return DoctorCheck("settings", "fail", str(exc))
