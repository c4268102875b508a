"""The LLM engine: reads, asks and writes through an endpoint; the offline engine backs it up.

The decision is never the model's: `policy.decide` makes it in code. This engine only turns
text into a Profile, phrases questions and writes the prose around a finished
Recommendation. Any endpoint failure completes the turn with the fallback engine and says so.
"""
from __future__ import annotations

import logging
from typing import Any, Iterator, Optional

from pydantic import ValidationError

from ..engine import Engine
from ..errors import EndpointError, ModelBehaviorError
from ..settings import Settings
from ..types import Lang, Profile, Reading, Recommendation, SearchResult
from . import prompts
from .client import EndpointFailure, LLMClient
from .extraction import parse, to_profile
from .markers import MarkerFilter
from .usage import Usage

log = logging.getLogger(__name__)

CALLS_PER_TURN = 2
PASSAGES = 4


class _NoBudget(Exception):
    """This turn has used its model calls."""


class LLMEngine:
    """Engine over an OpenAI-compatible endpoint, falling back to `fallback` per turn."""

    name = "llm"

    def __init__(self, settings: Settings, fallback: Engine, retriever: Any = None, *,
                 client: Optional[LLMClient] = None):
        self.settings = settings
        self.fallback = fallback
        self.retriever = retriever
        self.client = client or LLMClient(settings)
        self._notices: list[str] = []
        self._calls = 0
        self._disabled: Optional[str] = None  # set by a failure retrying will not fix

    @property
    def usage(self) -> Usage:
        return self.client.usage

    def new_turn(self) -> None:
        """Start a turn: it may make CALLS_PER_TURN model calls. `extract` calls this."""
        self._calls = 0

    def drain_notices(self) -> list[str]:
        notes = self._notices + list(self.fallback.drain_notices())
        self._notices = []
        return list(dict.fromkeys(notes))

    # ------------------------------------------------------------------ the three jobs
    def extract(self, text: str, lang: Lang, asked: Optional[str] = None) -> Profile:
        self.new_turn()
        if not text.strip() or self._disabled:
            return self.fallback.extract(text, lang, asked)
        messages = prompts.extract_messages(text, asked)
        try:
            reply = self._chat(messages, json_mode=True)
            if reply.refusal or reply.finish_reason == "content_filter":
                return self._fall_back_extract("the model declined to read this text", text,
                                               lang, asked)
            try:
                return to_profile(parse(reply.text), text)
            except ValidationError as exc:
                # One re-ask, with a new message list that carries the validation error.
                again = self._chat(prompts.repair_messages(messages, reply.text, _brief(exc)),
                                   json_mode=True)
                return to_profile(parse(again.text), text)
        except ValidationError:
            why = "the model's reply did not fit the profile schema, even after a repair"
        except _NoBudget:
            why = "the model's reply did not fit the profile schema"
        except EndpointError as exc:
            why = self._failed(exc)
        return self._fall_back_extract(why, text, lang, asked)

    def phrase_question(self, dimension: str, lang: Lang, profile: Profile) -> str:
        reference = self.fallback.phrase_question(dimension, lang, profile)
        if self._disabled:
            return reference
        meaning = prompts.meanings().get(dimension, dimension)
        messages = prompts.question_messages(dimension, meaning, lang, reference, profile)
        try:
            reply = self._chat(messages)
        except _NoBudget:
            return reference  # wording only: no notice needed
        except EndpointError as exc:
            self._note(f"{self._failed(exc)}; the offline engine asked this question")
            return reference
        return _usable_question(reply.text, lang) or reference

    def write_advice(self, rec: Recommendation) -> Iterator[str]:
        if self._disabled:
            yield from self.fallback.write_advice(rec)
            return
        if self._calls >= CALLS_PER_TURN:
            self._note("this turn had used its two model calls; the offline engine wrote the advice")
            yield from self.fallback.write_advice(rec)
            return
        messages = prompts.advice_messages(rec, self._passages(rec))
        markers = MarkerFilter(len(rec.citations))
        started = False
        self._calls += 1
        try:
            for piece in self.client.stream(messages):
                out = markers.feed(piece)
                if out:
                    started = True
                    yield out
            tail = markers.flush()
            if tail:
                yield tail
            if tail or started:
                return
            why = "the model wrote no advice"
        except ModelBehaviorError:
            why = "the model declined to write the advice"
        except EndpointError as exc:
            why = self._failed(exc)
        if started:
            self._note(f"{why}; the advice above is incomplete (the recommendation is not affected)")
            return
        self._note(f"{why}; the offline engine wrote the advice")
        yield from self.fallback.write_advice(rec)

    # ------------------------------------------------------------------ helpers
    def _chat(self, messages: list[dict], **kwargs: Any):
        if self._calls >= CALLS_PER_TURN:
            raise _NoBudget()
        self._calls += 1
        return self.client.chat(messages, **kwargs)

    def _passages(self, rec: Recommendation) -> list[SearchResult]:
        if self.retriever is None:
            return []
        query = " ".join([rec.decision, *(r.text for r in rec.rationale)])[:500]
        try:
            found = self.retriever.search(query, PASSAGES)
            # A SearchResponse (the API) or a plain list of results (KnowledgeIndex.search).
            return list(getattr(found, "results", found))
        except Exception:  # noqa: BLE001 - prose without background beats no prose
            log.warning("retrieval for the advice failed", exc_info=True)
            return []

    def _failed(self, exc: EndpointError) -> str:
        """Remember a permanent failure; the reason, as a clause for a notice."""
        log.debug("LLM call failed", exc_info=exc)
        if isinstance(exc, EndpointFailure) and exc.permanent:
            self._disabled = str(exc)
            return f"LLM unavailable for this session ({exc})"
        return f"LLM unavailable ({exc})"

    def _fall_back_extract(self, why: str, text: str, lang: Lang, asked: Optional[str]) -> Profile:
        self._note(f"{why}; this turn used the offline engine")
        return self.fallback.extract(text, lang, asked)

    def _note(self, message: str) -> None:
        self._notices.append(message)

    def read(self, text: str, lang: Lang, asked: Optional[str] = None) -> Reading:
        """The model's profile as a Reading; injected instructions and bare answers by the precise rules."""
        from ..reading import from_profile

        return from_profile(self.extract(text, lang, asked), text, asked, self.name)


def _brief(exc: ValidationError) -> str:
    """The validation errors, short enough to send back to the model."""
    lines = [f"- {'.'.join(str(p) for p in e['loc']) or '(reply)'}: {e['msg']}"
             for e in exc.errors(include_url=False)[:8]]
    return "\n".join(lines)


def _usable_question(text: str, lang: Lang) -> Optional[str]:
    """The model's question, tidied, or None if it is not one question in the right language."""
    q = text.strip().strip('"“”「」').strip()
    if not q or len(q) > 400 or "\n\n" in q:
        return None
    has_cjk = any("\u4e00" <= ch <= "\u9fff" for ch in q)
    if (lang == "zh") != has_cjk:
        return None
    return q
