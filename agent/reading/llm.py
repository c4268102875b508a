"""The small model the LLM fills when it reads a description, and its conversion to a Profile."""
from __future__ import annotations

import re
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from ..types import Aspect, CoreDimension, DimensionValue, Profile

_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


class Finding(BaseModel):
    """What the user's words say about one dimension."""

    model_config = ConfigDict(extra="ignore")
    dimension: Union[CoreDimension, Aspect] = Field(description="One of the dimension ids listed above.")
    value: Literal["yes", "no", "unknown"] = Field(description="yes or no (unknown findings are ignored).")
    evidence: str = Field("", description="The user's exact words supporting the value, copied verbatim.")
    source: Literal["stated", "inferred"] = Field(
        "stated", description="stated: said outright; inferred: clearly implied.")


class Extraction(BaseModel):
    """The findings in one piece of user text."""

    model_config = ConfigDict(extra="ignore")
    findings: list[Finding] = Field(description="One entry per dimension the text speaks to.")


def parse(reply: str) -> Extraction:
    """Validate a reply (a code fence around the JSON is tolerated); raises ValidationError."""
    m = _FENCE.match(reply or "")
    return Extraction.model_validate_json(m.group(1) if m else (reply or ""))


def _squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().casefold()


def locate(evidence: str, text: str) -> Optional[str]:
    """The span of `text` that `evidence` quotes (white space and case aside), else None."""
    ev = evidence.strip().strip("\"'“”‘’「」『』").strip()
    if not ev:
        return None
    if ev in text:
        return ev
    # Map a white-space- and case-insensitive match back to the user's exact characters.
    pattern = r"\s+".join(re.escape(w) for w in ev.split())
    m = re.search(pattern, text, re.IGNORECASE)
    return m.group(0) if m else None


def to_profile(extraction: Extraction, text: str) -> Profile:
    """A Profile of what `text` says; evidence that is not the user's own words is dropped."""
    values: dict[str, DimensionValue] = {}
    for f in extraction.findings:
        if f.value == "unknown":
            continue
        span = locate(f.evidence, text)
        # An invented quote keeps the value but not the claim that the user said it.
        dv = DimensionValue(value=f.value, evidence=span or "",
                            source=f.source if span else "inferred")
        prev = values.get(f.dimension)
        if prev is None or (not prev.evidence and dv.evidence):
            values[f.dimension] = dv
    return Profile(**values)


def profile_from_batch_line(line: dict, text: str) -> tuple[Optional[Profile], Optional[str]]:
    """(Profile, None) from one Batch API output line, or (None, why it cannot be used)."""
    from pydantic import ValidationError

    response = line.get("response") or {}
    status = response.get("status_code")
    body = response.get("body") or {}
    if line.get("error") or status != 200:
        err = line.get("error") or body.get("error") or {}
        detail = err.get("message") if isinstance(err, dict) else str(err)
        return None, f"the Batch API request failed ({status or 'no status'}: {str(detail or '')[:160]})".replace(": )", ")")
    try:
        choice = body["choices"][0]
        message = choice.get("message") or {}
    except (KeyError, IndexError, TypeError):
        return None, "the Batch API reply was not a chat completion"
    if message.get("refusal") or choice.get("finish_reason") == "content_filter":
        return None, "the model declined to read this description"
    try:
        return to_profile(parse(message.get("content") or ""), text), None
    except ValidationError:
        return None, "the model's reply did not fit the profile schema"
