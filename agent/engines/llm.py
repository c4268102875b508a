"""The LLM engine: reads, asks and writes through an endpoint; the offline engine backs it up.

The decision is never the model's: `policy.decide` makes it in code. This engine only turns
text into a Profile, phrases questions and writes the prose around a finished
Recommendation. Any endpoint failure completes the turn with the fallback engine and says so,
in the user's language.

One user turn has one wall-clock budget (ADVISOR_LLM_DEADLINE): every call, retry, wait and
stream read of the turn ends by then, and whatever is left undone is done offline.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterator, Optional

from pydantic import ValidationError

from .base import Engine
from ..errors import EndpointError, ModelBehaviorError
from ..settings import Settings
from ..textproc import has_cjk
from ..types import Lang, Profile, Reading, Recommendation, SearchResult
from . import llm_prompts as prompts
from ..llm.client import EndpointFailure, LLMClient
from ..reading.llm import Extraction, parse, to_profile
from .llm_markers import MarkerFilter
from .llm_notices import detail, notice, why
from ..llm.usage import Usage

log = logging.getLogger(__name__)

# Reply caps (max_tokens) per call kind. A reading of the dimensions a text speaks to, with
# evidence, fits in about 400 tokens; a question in a sentence; the advice (under 250 words,
# or 400 Chinese characters) in about 450. A local server keeps generating a reply the
# advisor gave up on until its cap, so the caps are kept close to what is needed.
CAPS = {"extract": 512, "question": 96, "advice": 600}
MAX_ADVICE_CHARS = 6000  # the streamed advice stops here even if the server ignores max_tokens
# Calls per kind in one turn: a reading and its one re-ask, one question, one advice.
CALLS = {"extract": 2, "question": 1, "advice": 1}
PASSAGES = 4
# A new call budget (own_turn advice) keeps the running clock when the engine was busy this
# recently: the front end went straight from reading the answer to writing the advice.
SAME_TURN_GAP = 3.0
# Failures after which the rest of the turn goes offline: the next call would wait as long.
_TURN_DOWN = {"timeout", "deadline", "unreachable", "too_large"}


class _NoBudget(Exception):
    """This turn has used its model calls of one kind."""


@dataclass
class _Turn:
    until: float  # the turn's deadline, time.monotonic()
    calls: dict = field(default_factory=dict)
    down: bool = False  # a failure that would repeat: no more calls this turn
    last_active: float = 0.0


@lru_cache(maxsize=None)
def extraction_schema() -> dict:
    """The JSON schema sent with every reading (the prompt carries it too)."""
    return Extraction.model_json_schema()


class LLMEngine:
    """Engine over an OpenAI-compatible endpoint, falling back to `fallback` per turn."""

    def __init__(self, settings: Settings, fallback: Engine, retriever: Any = None, *,
                 client: Optional[LLMClient] = None):
        self.settings = settings
        self.fallback = fallback
        self.retriever = retriever
        self.client = client or LLMClient(settings)
        self._notices: list[str] = []
        self._turn: Optional[_Turn] = None
        self._last_read: Optional[str] = None  # "llm" or "offline": who read the latest text
        self._disabled: Optional[str] = None  # set by a failure retrying will not fix

    @property
    def name(self) -> str:
        """`offline` when the offline engine read the latest text (so made the answer), else `llm`."""
        return "offline" if self._disabled or self._last_read == "offline" else "llm"

    @property
    def usage(self) -> Usage:
        return self.client.usage

    @property
    def calls(self) -> list[dict]:
        """Every model call so far: kind, structured-output form, seconds, tokens, cap, outcome."""
        return self.client.calls

    def new_turn(self) -> None:
        """A new call budget. The clock restarts too, unless this is the same user turn.

        `extract` starts a turn; the front end calls this before the interview's final advice.
        """
        now = time.monotonic()
        t = self._turn
        if t is not None and now - t.last_active <= SAME_TURN_GAP and now < t.until:
            t.calls = {}
            return
        self._turn = _Turn(until=now + self.settings.llm_deadline, last_active=now)
        self.client.turn += 1

    def _current(self) -> _Turn:
        if self._turn is None:
            self.new_turn()
        return self._turn

    def drain_notices(self) -> list[str]:
        notes = self._notices + list(self.fallback.drain_notices())
        self._notices = []
        return list(dict.fromkeys(notes))

    # ------------------------------------------------------------------ the three jobs
    def extract(self, text: str, lang: Lang, asked: Optional[str] = None) -> Profile:
        self._turn = None
        turn = self._current()
        if not text.strip() or self._disabled:
            if self._disabled:
                self._last_read = "offline"
            return self.fallback.extract(text, lang, asked)
        messages = prompts.extract_messages(text, asked)
        schema = extraction_schema()
        try:
            reply = self._chat("extract", messages, schema=schema)
            if reply.refusal or reply.finish_reason == "content_filter":
                return self._fall_back_extract(why("declined_read", lang), text, lang, asked)
            try:
                profile = to_profile(parse(reply.text), text)
            except ValidationError as exc:
                # One re-ask, with a new message list that carries the validation error.
                again = self._chat("extract", prompts.repair_messages(messages, reply.text,
                                                                      _brief(exc)), schema=schema)
                profile = to_profile(parse(again.text), text)
            self._last_read = "llm"
            return profile
        except (ValidationError, _NoBudget):
            reason = why("schema", lang)
        except EndpointError as exc:
            reason = self._failed(exc, lang, turn)
        return self._fall_back_extract(reason, text, lang, asked)

    def phrase_question(self, dimension: str, lang: Lang, profile: Profile) -> str:
        reference = self.fallback.phrase_question(dimension, lang, profile)
        turn = self._current()
        if self._disabled or turn.down:
            return reference
        meaning = prompts.meanings().get(dimension, dimension)
        messages = prompts.question_messages(dimension, meaning, lang, reference, profile)
        try:
            reply = self._chat("question", messages)
        except _NoBudget:
            return reference  # wording only: no notice needed
        except EndpointError as exc:
            self._note(notice("question_offline", lang, self._failed(exc, lang, turn)))
            return reference
        return _usable_question(reply.text, lang) or reference

    def write_advice(self, rec: Recommendation) -> Iterator[str]:
        lang = rec.lang
        turn = self._current()
        if self._disabled or turn.down:
            yield from self.fallback.write_advice(rec)
            return
        if turn.calls.get("advice", 0) >= CALLS["advice"]:
            yield from self.fallback.write_advice(rec)
            return
        turn.calls["advice"] = turn.calls.get("advice", 0) + 1
        messages = prompts.advice_messages(rec, self._passages(rec))
        markers = MarkerFilter(len(rec.citations))
        started = False
        reason: Optional[str] = None
        try:
            for piece in self._advice_pieces(messages, turn):
                out = markers.feed(piece)
                if out:
                    started = True
                    yield out
            tail = markers.flush()
            if tail:
                started = True
                yield tail
            if started:
                cut = self.client.last_stream.get("cut")
                if cut == "ended":
                    self._note(notice("advice_incomplete", lang, why("ended", lang)))
                elif cut:
                    cap = (f"{CAPS['advice']} tokens" if cut == "tokens" else
                           f"{MAX_ADVICE_CHARS} characters")
                    if lang == "zh":
                        cap = (f"{CAPS['advice']} 个词元" if cut == "tokens" else
                               f"{MAX_ADVICE_CHARS} 个字符")
                    self._note(notice("advice_cut", lang, cap=cap))
                return
            reason = why("no_advice", lang)
        except ModelBehaviorError:
            reason = why("declined_advice", lang)
        except EndpointError as exc:
            reason = self._failed(exc, lang, turn)
        finally:
            turn.last_active = time.monotonic()
        if started:
            self._note(notice("advice_incomplete", lang, reason))
            return
        self._note(notice("advice_offline", lang, reason))
        yield from self.fallback.write_advice(rec)

    # ------------------------------------------------------------------ helpers
    def _advice_pieces(self, messages: list[dict], turn: _Turn) -> Iterator[str]:
        """The advice as it streams; whole, where this endpoint's streams carry no token counts
        (its usage would otherwise be a guess), learned from the first stream or `doctor`."""
        client = self.client
        if client.forms.stream_usage(client.form_key) is not False:
            yield from client.stream(messages, max_tokens=CAPS["advice"], until=turn.until,
                                     max_chars=MAX_ADVICE_CHARS)
            return
        reply = client.chat(messages, max_tokens=CAPS["advice"], kind="advice", until=turn.until)
        if not reply.text and (reply.refusal or reply.finish_reason == "content_filter"):
            raise ModelBehaviorError("the model declined to write the advice", reply.refusal)
        text = reply.text[:MAX_ADVICE_CHARS]
        cut = "chars" if len(reply.text) > MAX_ADVICE_CHARS else None
        if reply.finish_reason == "length":
            cut = "tokens"
        client.last_stream = {"finish_reason": reply.finish_reason, "cut": cut}
        if text:
            yield text

    def _chat(self, kind: str, messages: list[dict], **kwargs: Any):
        turn = self._current()
        if turn.calls.get(kind, 0) >= CALLS[kind]:
            raise _NoBudget()
        if turn.down:
            raise EndpointFailure("an earlier call of this turn failed", "down")
        turn.calls[kind] = turn.calls.get(kind, 0) + 1
        try:
            return self.client.chat(messages, max_tokens=CAPS[kind], kind=kind,
                                    until=turn.until, schema_name="extraction", **kwargs)
        finally:
            turn.last_active = time.monotonic()

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

    def _failed(self, exc: EndpointError, lang: Lang, turn: _Turn) -> str:
        """Remember a failure that will repeat; the reason, as a clause for a notice."""
        log.debug("LLM call failed", exc_info=exc)
        kind = getattr(exc, "kind", None)
        if kind == "deadline":
            turn.down = True
            return why("budget", lang, seconds=self.settings.llm_deadline)
        if kind in _TURN_DOWN:
            turn.down = True
        if isinstance(exc, EndpointFailure) and exc.permanent:
            self._disabled = str(exc)
            return why("unavailable_session", lang, detail=detail(exc, lang))
        return why("unavailable", lang, detail=detail(exc, lang))

    def _fall_back_extract(self, reason: str, text: str, lang: Lang,
                           asked: Optional[str]) -> Profile:
        self._note(notice("turn_offline", lang, reason))
        self._last_read = "offline"
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
    if (lang == "zh") != has_cjk(q):
        return None
    return q
