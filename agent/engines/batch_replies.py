"""The LLM reader through OpenAI's Batch API: request lines out, the replies read back as an Engine.

The request is the LLM engine's own extraction call and a reply is read by the same parser
(`reading.llm`), so a row merged from a batch reads exactly as `recommend --engine llm` would.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Optional

from ..reading import from_profile
from ..reading.llm import profile_from_batch_line
from ..settings import Settings
from ..types import Lang, Profile, Reading

ENDPOINT = "/v1/chat/completions"


def batch_request(row_id: str, description: str, settings: Settings) -> dict:
    """One Batch API request line: the LLM engine's extraction call for one description."""
    from .llm_prompts import extract_messages

    return {"custom_id": row_id, "method": "POST", "url": ENDPOINT,
            "body": {"model": settings.model, "messages": extract_messages(description),
                     "response_format": {"type": "json_object"}}}


class ReplyIndex:
    """custom_id -> offset of its line in the downloaded output (the replies stay on disk)."""

    def __init__(self, path: Path):
        self.path, self.offsets = path, {}
        self._fh = open(path, "rb") if path.exists() else None
        if self._fh is None:
            return
        offset = 0
        for raw in self._fh:
            if raw.strip():
                try:
                    cid = json.loads(raw).get("custom_id")
                except ValueError:
                    cid = None
                if isinstance(cid, str) and cid not in self.offsets:
                    self.offsets[cid] = offset
            offset += len(raw)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()

    def get(self, custom_id: str) -> Optional[dict]:
        if self._fh is None or custom_id not in self.offsets:
            return None
        self._fh.seek(self.offsets[custom_id])
        return json.loads(self._fh.readline())


class ReplyEngine:
    """An Engine that reads the Batch API's reply for the current row (`row_id`).

    A request that failed, or a reply that does not fit the extraction schema, is read by
    the offline engine instead, with a notice (as the LLM engine does per turn).
    """

    name = "llm"

    def __init__(self, offline: Any, replies: ReplyIndex, missing: str):
        self.offline, self.replies, self.missing = offline, replies, missing
        self.row_id: Optional[str] = None
        self.from_model = self.fell_back = 0
        self._notices: list[str] = []

    def extract(self, text: str, lang: Lang, asked: Optional[str] = None) -> Profile:
        line = self.replies.get(self.row_id) if self.row_id is not None else None
        profile, why = profile_from_batch_line(line, text) if line else (None, self.missing)
        if profile is not None:
            self.from_model += 1
            return profile
        self.fell_back += 1
        self._notices.append(f"{why}; the offline engine read this description")
        return self.offline.extract(text, lang, asked)

    def read(self, text: str, lang: Lang, asked: Optional[str] = None) -> Reading:
        return from_profile(self.extract(text, lang, asked), text, asked, self.name)

    def phrase_question(self, dimension: str, lang: Lang, profile: Profile) -> str:
        return self.offline.phrase_question(dimension, lang, profile)

    def write_advice(self, rec: Any) -> Iterator[str]:
        return iter(())

    def drain_notices(self) -> list[str]:
        out, self._notices = self._notices, []
        return out
