"""Structured-output forms: how a JSON schema goes to an endpoint, and which form each endpoint takes.

Also remembered per endpoint: whether its streams end with token counts (llama-cpp-python's
do not), so that the advice can be fetched whole where streaming would lose the counts.

OpenAI and vLLM take `json_schema`; llama.cpp's server takes a `schema` beside `json_object`
(llama-cpp-python answers `json_schema` with HTTP 500); others know only JSON mode, or
nothing. The prompt always carries the schema too, so every form can work. The form an
endpoint took is remembered per endpoint and model in ADVISOR_HOME, so it is learned once.
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Optional

# Tried in this order until one is accepted.
FORMS = ("json_schema", "json_object+schema", "json_object", "text")
DESCRIBE = {
    "json_schema": "JSON schema (response_format json_schema)",
    "json_object+schema": "JSON mode with the schema attached (llama.cpp style)",
    "json_object": "JSON mode, schema in the prompt",
    "text": "plain text, schema in the prompt, validated with one re-ask",
}
_lock = threading.Lock()


def response_format(form: str, schema: dict, name: str) -> Optional[dict]:
    """The `response_format` request field for a form (None: send none)."""
    if form == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
    if form == "json_object+schema":
        return {"type": "json_object", "schema": schema}
    if form == "json_object":
        return {"type": "json_object"}
    return None


class FormMemory:
    """Which form each endpoint took (and which it refused), kept in one small JSON file."""

    def __init__(self, path: Optional[Path]):
        self.path = path
        self._data: Optional[dict] = None

    def _load(self) -> dict:
        if self._data is None:
            try:
                self._data = json.loads(self.path.read_text("utf-8")) if self.path else {}
                if not isinstance(self._data, dict):
                    self._data = {}
            except (OSError, ValueError):
                self._data = {}
        return self._data

    def known(self, key: str) -> Optional[str]:
        """The form this endpoint took before, if any."""
        form = self._load().get(key, {}).get("form")
        return form if form in FORMS else None

    def candidates(self, key: str) -> list[str]:
        """Forms to try, best first: the learned one, else every form not refused."""
        known = self.known(key)
        if known:
            return [known]
        refused = set(self._load().get(key, {}).get("refused", []))
        return [f for f in FORMS if f not in refused or f == "text"]

    def took(self, key: str, form: str, refused: tuple[str, ...] = ()) -> None:
        """Remember the form that worked and the ones refused before it.

        Refusals are kept only once some form worked: a server failing every request
        would otherwise be remembered as refusing every form.
        """
        entry = self._load().setdefault(key, {})
        if entry.get("form") == form and not refused:
            return
        entry["form"] = form
        if refused:
            entry["refused"] = sorted(set(entry.get("refused", [])) | set(refused))
        self._save()

    def stream_usage(self, key: str) -> Optional[bool]:
        """Do this endpoint's streams end with token counts? None until one stream was seen."""
        return self._load().get(key, {}).get("stream_usage")

    def saw_stream(self, key: str, with_usage: bool) -> None:
        entry = self._load().setdefault(key, {})
        if entry.get("stream_usage") != with_usage:
            entry["stream_usage"] = with_usage
            self._save()

    def rate(self, key: str) -> Optional[float]:
        """Tokens per second this endpoint wrote, averaged over its recent replies."""
        value = self._load().get(key, {}).get("tokens_per_s")
        return float(value) if isinstance(value, (int, float)) and value > 0 else None

    def saw_rate(self, key: str, tokens: int, seconds: float) -> None:
        if tokens < 8 or seconds <= 0:
            return  # too short to say anything
        observed = tokens / seconds
        old = self.rate(key)
        entry = self._load().setdefault(key, {})
        entry["tokens_per_s"] = round(observed if old is None else (old + observed) / 2, 2)
        self._save()

    def saw_timeout(self, key: str) -> None:
        """A reply did not come in time: the endpoint is slower now than its average said."""
        old = self.rate(key)
        if old is not None:
            self._load()[key]["tokens_per_s"] = round(old / 2, 2)
            self._save()

    def forget(self, key: str) -> None:
        """Learn afresh (doctor does, so that it reports what the endpoint takes today)."""
        if self._load().pop(key, None) is not None:
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        # Only an optimisation: a read-only home just means learning again next time.
        try:
            with _lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".forms-")
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(self._data, f, indent=1, sort_keys=True)
                os.replace(tmp, self.path)
        except OSError:
            pass


def refusal_of_form(exc: Any) -> bool:
    """Does this HTTP error say the request's response_format is not supported?"""
    status = getattr(exc, "status_code", None)
    if status in (500, 501):
        return True  # llama-cpp-python's answer to json_schema; no point retrying either way
    if status in (400, 404, 415, 422):
        text = f"{getattr(exc, 'message', '')} {getattr(exc, 'body', '')}".lower()
        return any(w in text for w in ("response_format", "json_schema", "schema", "json_object",
                                       "json mode", "grammar", "not supported", "unsupported"))
    return False
