"""The library API: what the CLI, batch, the Slack bot, the MCP server and the evals all call.

Front-ends import this module and `agent.types` only. Besides `Advisor`, it names the few
library pieces a front needs (renderings, the session store, the Slack block kit, the doctor's
checks, the Batch API reader); they load on first use, so `advisor --help` stays fast.
"""
from __future__ import annotations

import importlib
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterator, Optional, Union

from .errors import UserError
from .settings import Settings
from .textproc import detect_lang
from .types import (CoverageMap, InterviewState, OpenQuestion, Reading, Recommendation, SearchResponse,
                    SectionInfo, Turn)
# The deciding, wording and article modules load in the methods that use them: `advisor search`
# never pays for the interview or the policy, and `import agent.api` stays cheap for every front.

if TYPE_CHECKING:
    from .article.retrieval import KnowledgeIndex
    from .engines.base import Engine
    from .engines.offline import OfflineEngine
    from .explaining.citations import Citer

# What fronts may take from the library besides Advisor: name -> module that defines it.
_EXPORTS = {
    "render_terminal": "agent.explaining.render", "render_search": "agent.explaining.render",
    "to_json": "agent.explaining.render", "to_markdown": "agent.explaining.render",
    "wording": "agent.wording",
    "SessionStore": "agent.store.sessions", "SessionRecord": "agent.store.sessions",
    "InboxItem": "agent.store.sessions",
    "seal": "agent.store.state_token", "unseal": "agent.store.state_token",
    "load_key": "agent.store.state_token",
    "SCHEMAS": "agent.schemas",
    "SELF_DESCRIPTION_FILE": "agent.article.self_description",
    "run_checks": "agent.engines.doctor", "settings_failure": "agent.engines.doctor",
    "describe_endpoint_failure": "agent.llm.client",
    "ENDPOINT": "agent.engines.batch_replies", "batch_request": "agent.engines.batch_replies",
    "ReplyEngine": "agent.engines.batch_replies", "ReplyIndex": "agent.engines.batch_replies",
    # the one-story advice (issue 10)
    "disagreements": "agent.explaining.consistency", "render_coverage": "agent.explaining.render",
    "what_would_change": "agent.deciding.change",
}
_MODULES = {"slack_kit": "agent.explaining.slack_blocks"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


MAX_DESCRIPTION_CHARS = 100_000


def version() -> str:
    """The installed advisor's version (the source tree's, when run uninstalled)."""
    from importlib.metadata import PackageNotFoundError, version as installed

    try:
        return installed("advisor")
    except PackageNotFoundError:
        from . import __version__

        return __version__


def check_text(text: object, what: str = "description") -> str:
    """A usable text, or a UserError that says what is wrong with it."""
    if not isinstance(text, str):
        raise UserError(f"the {what} must be text")
    if "\x00" in text or "\ufffd" in text:
        raise UserError(f"the {what} looks binary or is not valid UTF-8")
    if not text.strip():
        raise UserError(f"the {what} is empty: describe your LLM project in a sentence or more")
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise UserError(f"the {what} is {len(text):,} characters; the limit is {MAX_DESCRIPTION_CHARS:,}")
    return text


class Advisor:
    """RAG, fine-tuning, both or neither: recommendations, interviews and search."""

    def __init__(self, settings: Optional[Settings] = None, engine: Union[str, "Engine", None] = None, *,
                 index: Optional["KnowledgeIndex"] = None, citer: Optional["Citer"] = None,
                 offline: Optional["OfflineEngine"] = None):
        """`engine` is a name (offline, llm, auto) or an Engine; `index`, `citer` and `offline`
        share pieces another Advisor already loaded (see `sibling`)."""
        self.settings = settings or Settings.from_env()
        if engine is not None and not isinstance(engine, str):
            self.engine_choice = engine.name
            self.__dict__["engine"] = engine
        else:
            self.engine_choice = engine or self.settings.engine
        if self.engine_choice not in ("offline", "llm", "auto"):
            raise UserError(f"unknown engine {self.engine_choice!r}: use offline, llm or auto")
        for name, shared in (("index", index), ("citer", citer), ("offline", offline)):
            if shared is not None:
                self.__dict__[name] = shared  # a cached_property, set once and never rebuilt
        self.notices: list[str] = []

    def sibling(self, engine: Union[str, "Engine", None] = None) -> "Advisor":
        """A new Advisor on the same settings, index, quotes and offline reader, with its own engine
        (one per worker thread, or one that reads Batch API replies)."""
        return Advisor(self.settings, engine if engine is not None else self.engine_choice,
                       index=self.index, citer=self.citer, offline=self.offline)

    # ------------------------------------------------------------------ plumbing
    @cached_property
    def index(self) -> "KnowledgeIndex":
        from .article.embeddings import make_embedder
        from .article.retrieval import KnowledgeIndex
        from .article.source import load_article

        embedder = make_embedder(self.settings.embeddings, self.settings)
        return KnowledgeIndex.open(load_article(), embedder, self.settings.index_dir)

    @cached_property
    def citer(self) -> "Citer":
        from .article.source import load_article
        from .explaining.citations import Citer

        return Citer(load_article())  # quotes come from the quote map: no index needed

    @cached_property
    def offline(self) -> "OfflineEngine":
        from .engines.offline import OfflineEngine

        return OfflineEngine()

    @cached_property
    def engine(self) -> "Engine":
        choice = self.engine_choice
        if choice == "auto":
            if not self.settings.llm_configured:
                return self.offline
            choice = "llm"
        if choice == "llm":
            if not self.settings.llm_configured:
                raise UserError("--engine llm needs an endpoint: set OPENAI_API_KEY (and OPENAI_BASE_URL "
                                "for a local server) or pass --engine offline")
            from .engines.llm import LLMEngine

            return LLMEngine(self.settings, fallback=self.offline, retriever=self.index)
        return self.offline

    def rebuild_index(self) -> "KnowledgeIndex":
        """Build the index afresh, replacing the cache."""
        from .article.embeddings import make_embedder
        from .article.retrieval import KnowledgeIndex
        from .article.source import load_article

        embedder = make_embedder(self.settings.embeddings, self.settings)
        self.__dict__["index"] = KnowledgeIndex.open(load_article(), embedder, self.settings.index_dir, rebuild=True)
        return self.index

    def _notices(self) -> list[str]:
        out = list(self.notices)
        self.notices.clear()
        out += self.engine.drain_notices()
        return out

    # ------------------------------------------------------------------ one shot
    def search(self, query: str, k: int = 5) -> SearchResponse:
        """Ranked passages of the article for a question in English or Chinese."""
        return SearchResponse(query=query, results=self.index.search(query, k))

    def recommend(self, text: str, lang: Optional[str] = None) -> Recommendation:
        """One-shot recommendation from a description; no questions asked."""
        from .deciding.policy import decide
        from .wording import wording

        text = check_text(text)
        lang = lang or detect_lang(text)
        reading = self.engine.read(text, lang)
        notices = []
        if reading.instructions_dropped:
            notices.append(wording().replies[lang]["ignored_instruction"])
        outcome = decide(reading.profile, on_topic=reading.on_topic, contradictions=reading.contradictions)
        if not outcome.contradictions:
            outcome.confidence = _confidence(reading, outcome.decision)
        from .explaining import advice

        rec = advice.build(reading.profile, outcome, lang, self.citer, text, engine=self.engine.name,
                           notices=notices)
        rec.notices += self._notices()
        return rec

    def write_advice(self, rec: Recommendation, own_turn: bool = False) -> Iterator[str]:
        """Prose advice from the engine (the LLM streams it; offline yields nothing).

        `own_turn` gives the advice its own call budget (the interview's final message).
        Once the stream ends, its notices are added to `rec.notices`: render after it.
        """
        if own_turn and hasattr(self.engine, "new_turn"):
            self.engine.new_turn()
        yield from self.engine.write_advice(rec)
        # Notices raised while the advice was written (cut short, fell back) are shown with it.
        rec.notices += [n for n in self._notices() if n not in rec.notices]

    # ------------------------------------------------------------------ interview
    def start_interview(self, text: str = "", lang: Optional[str] = None) -> tuple[InterviewState, Turn]:
        """A new interview, optionally seeded with a description; returns the first turn."""
        from .deciding import interview

        state = InterviewState(lang=lang or (detect_lang(text) if text.strip() else "en"))
        if text.strip():
            check_text(text)
            interview.apply_answer(state, text, self._reader(state))
        return state, self._next(state)

    def reply(self, state: InterviewState, answer: str) -> Turn:
        """Take the user's answer (or command) and return the next turn."""
        from .deciding import interview
        from .wording import wording

        answer = check_text(answer, "answer")
        if state.done and interview.is_back(answer):
            if not interview.answered(state):
                return Turn(kind="info", text=wording().replies[state.lang]["nothing_to_undo"],
                            recommendation=state.recommendation)
            state.done, state.recommendation = False, None  # "back" after the advice reopens the interview
        if state.done:
            return self.what_if(state, answer)
        action, turn = interview.handle_command(state, answer)
        if action == "finish":
            return self._final(state)
        if action == "reply":
            return turn
        if action.startswith("reask:"):
            return interview.question_turn(state, action.split(":", 1)[1], self.engine.phrase_question)
        if action == "answer":
            if not state.description and all(e.answer is None for e in state.history) \
                    and any(ch.isalpha() for ch in answer):
                state.lang = detect_lang(answer)  # the first words the user writes set the language
            # The pending question already holds an answer only when an earlier one was not
            # understood (a read answer clears `pending`; "back" asks it afresh).
            asked = [e for e in state.history if e.dimension == state.pending] if state.pending else []
            tried = bool(asked) and asked[-1].answer is not None
            got = interview.apply_answer(state, answer, self._reader(state))
            if not got:
                # Not understood: ask again once, then move on without it.
                if tried:
                    asked[-1].answer = answer
                    state.skipped.append(state.pending)
                    state.pending = None
                else:
                    reply = wording().replies[state.lang]["not_understood"]
                    return Turn(kind="info", text=reply)
        return self._next(state)

    def current_turn(self, state: InterviewState) -> Turn:
        """What to show when a saved interview is resumed: the pending question, or the next one."""
        from .wording import wording

        if state.done and state.recommendation:
            return Turn(kind="recommendation", text="", recommendation=state.recommendation)
        if state.pending:
            spec = getattr(wording().questions[state.pending], state.lang)
            q = next((e.question for e in reversed(state.history) if e.dimension == state.pending), spec.q)
            return Turn(kind="question", text=q, question=OpenQuestion(dimension=state.pending, question=q, why=spec.why))
        return self._next(state)

    def what_if(self, state: InterviewState, said: str) -> Turn:
        """Answer "what if …?" or "change the … answer to …" about a finished interview.

        The turn carries the new advice and `change` (what moved). A what-if works on a copy,
        so `state` is untouched; a change updates `state` (the caller saves it). Anything else
        gets a short reply saying what can be asked.
        """
        from .deciding import followup
        from .wording import wording

        said = check_text(said, "answer")
        follow = followup.parse(said)
        if follow is None:
            hint = wording().replies[state.lang]["followup_hint"]
            return Turn(kind="info", text=hint, recommendation=state.recommendation)
        before = state.recommendation
        if before is None:  # a session finished before recommendations were kept: rebuild it
            before = self._final(state.model_copy(deep=True)).recommendation
        target = state if follow.kind == "change" else state.model_copy(deep=True)
        if not followup.apply(target, follow, said, self._reader(target)):
            return Turn(kind="info", text=wording().replies[state.lang]["followup_unclear"],
                        recommendation=state.recommendation)
        rec = self._final(target).recommendation
        change = followup.diff(before, rec, follow, said)
        return Turn(kind="recommendation", text=followup.summary(change, state.lang), recommendation=rec,
                    change=change)

    def finish(self, state: InterviewState) -> Recommendation:
        """The best recommendation from what is known so far."""
        return self._final(state).recommendation

    def _reader(self, state: InterviewState):
        return lambda text, asked: self.engine.read(text, state.lang, asked)

    def _next(self, state: InterviewState) -> Turn:
        from .deciding import interview

        dim = interview.next_dimension(state)
        if dim is None:
            return self._final(state)
        return interview.question_turn(state, dim, self.engine.phrase_question)

    def _final(self, state: InterviewState) -> Turn:
        from .deciding.policy import decide, profile_distributions

        outcome = decide(state.profile, on_topic=state.on_topic or bool(state.core_known()),
                         contradictions=state.contradictions)
        if not outcome.contradictions:
            outcome.confidence = _confidence(None, outcome.decision, profile_distributions(state.profile, state.certainty))
        from .explaining import advice

        rec = advice.build(state.profile, outcome, state.lang, self.citer, state.description,
                           engine=self.engine.name, one_shot=True)
        rec.notices += self._notices()
        state.recommendation, state.done, state.pending = rec, True, None
        return Turn(kind="recommendation", text=rec.headline, recommendation=rec)

    # ------------------------------------------------------------------ the article itself
    # For front-ends that browse the knowledge (the MCP server's explain and resources).
    def sections(self) -> list[SectionInfo]:
        """Every mapped section of the article, in order, with its verbatim text."""
        from .article.source import load_article

        return [_section_info(s) for s in load_article().sections]

    def section(self, section_id: str) -> SectionInfo:
        """One section by id; an unknown id is a UserError."""
        from .article.source import load_article

        if not isinstance(section_id, str) or not section_id.strip():
            raise UserError("the section id is empty: give one such as considerations.external-knowledge")
        return _section_info(load_article().section(section_id.strip()))

    def coverage(self) -> CoverageMap:
        """What the article does and does not cover (from the section map)."""
        from .article.coverage import build_coverage
        from .article.source import load_article

        article = load_article()
        return build_coverage(article.section_map.title, article.section_map.title_en, article.sections)


def _section_info(s) -> SectionInfo:
    return SectionInfo(section_id=s.id, heading=s.heading, heading_path=s.heading_path, title_en=s.title_en,
                       summary_en=s.summary_en, text=s.text, source_start=s.start, source_end=s.end,
                       dimensions=list(s.dimensions), aspects=list(s.aspects), supports=s.supports)

def _confidence(reading: Optional[Reading], decision: str, dists: Optional[dict] = None) -> float:
    """The probability of `decision` given how sure the reader is of each core fact."""
    from .deciding.policy import decision_probabilities, profile_distributions

    if dists is None:
        dists = reading.distributions or profile_distributions(reading.profile)
    return round(decision_probabilities(dists).get(decision, 0.0), 2)
