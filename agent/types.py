"""Every data shape the advisor passes between its layers, in one place.

Field descriptions are written to be read: with structured output they become part of
the LLM's prompt, and the JSON shapes are a contract (see README, "JSON shapes").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Decision = Literal["rag", "fine-tuning", "hybrid", "prompting", "undecided"]
CoreDimension = Literal[
    "external_knowledge", "model_adaptation", "hallucination_critical",
    "labeled_data", "data_dynamics", "transparency",
]
Aspect = Literal[
    "scalability", "latency", "maintenance", "robustness", "privacy",
    "integration", "user_experience", "cost", "complexity",
]
# The tuples are the Literals' own values, so each list is written once.
DECISIONS: tuple[str, ...] = get_args(Decision)
CORE_DIMENSIONS: tuple[str, ...] = get_args(CoreDimension)
ASPECTS: tuple[str, ...] = get_args(Aspect)
ALL_DIMENSIONS: tuple[str, ...] = CORE_DIMENSIONS + ASPECTS

Value = Literal["yes", "no", "unknown"]
Source = Literal["stated", "inferred", "assumed"]
Lang = Literal["en", "zh"]


# --------------------------------------------------------------------------- knowledge

class SectionSpec(BaseModel):
    """One real section of the article, as written by hand in knowledge/sections.yaml."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9-]*(\.[a-z0-9-]+)*$")
    heading: str = Field(min_length=1, description="The article's own heading, verbatim.")
    inline_heading: bool = Field(False, description="Heading is a label opening the paragraph.")
    parent: Optional[str] = None
    title_en: str
    summary_en: str
    dimensions: list[CoreDimension] = []
    aspects: list[Aspect] = []
    supports: Optional[Decision] = None


class SectionMap(BaseModel):
    """The whole hand-made section map."""

    model_config = ConfigDict(extra="forbid")
    source: str
    title: str
    title_en: str
    body_end: str
    sections: list[SectionSpec]

    @field_validator("sections")
    @classmethod
    def _ids_unique_and_parents_known(cls, sections: list[SectionSpec]) -> list[SectionSpec]:
        seen: set[str] = set()
        for s in sections:
            if s.id in seen:
                raise ValueError(f"duplicate section id {s.id!r}")
            if s.parent is not None and s.parent not in seen:
                raise ValueError(f"section {s.id!r}: parent {s.parent!r} must come before it")
            seen.add(s.id)
        return sections


class Section(SectionSpec):
    """A section located in the source file: its text span and heading path."""

    heading_path: list[str]
    start: int = Field(description="Offset of the section's body text in the source file.")
    end: int
    text: str


class Chunk(BaseModel):
    """A quotable passage: a few sentences inside one section."""

    chunk_id: str
    section_id: str
    heading_path: list[str]
    text: str
    source_start: int
    source_end: int


class SearchResult(BaseModel):
    """One ranked passage, as `advisor search --json` prints it."""

    section_id: str
    heading_path: list[str]
    score: float
    text: str
    source_start: int
    source_end: int


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResult]


# --------------------------------------------------------------------------- profile

class DimensionValue(BaseModel):
    """What is known about one dimension of the use case."""

    value: Value = Field("unknown", description="yes, no or unknown.")
    evidence: str = Field("", description="The user's own words that support the value, verbatim.")
    source: Source = Field("assumed", description="stated: said outright; inferred: implied; assumed: not mentioned.")
    # Kept out of JSON and sessions: DESIGN.md's profile shape is value/evidence/source.
    probability: Optional[float] = Field(None, ge=0.0, le=1.0, exclude=True,
                                         description="The reader's calibrated probability that the value is right.")


class Profile(BaseModel):
    """The use case along the article's six core dimensions and nine other aspects.

    yes means: needs external knowledge / must change behaviour or style / hallucination
    is critical / plenty of labelled task data / data changes often / answers must be
    traceable; for aspects, yes means the aspect is a stated concern (latency: real-time).
    """

    external_knowledge: DimensionValue = DimensionValue()
    model_adaptation: DimensionValue = DimensionValue()
    hallucination_critical: DimensionValue = DimensionValue()
    labeled_data: DimensionValue = DimensionValue()
    data_dynamics: DimensionValue = DimensionValue()
    transparency: DimensionValue = DimensionValue()
    scalability: DimensionValue = DimensionValue()
    latency: DimensionValue = DimensionValue()
    maintenance: DimensionValue = DimensionValue()
    robustness: DimensionValue = DimensionValue()
    privacy: DimensionValue = DimensionValue()
    integration: DimensionValue = DimensionValue()
    user_experience: DimensionValue = DimensionValue()
    cost: DimensionValue = DimensionValue()
    complexity: DimensionValue = DimensionValue()

    def get(self, dim: str) -> DimensionValue:
        return getattr(self, dim)

    def known(self) -> dict[str, DimensionValue]:
        """Dimensions whose value is not unknown."""
        return {d: self.get(d) for d in ALL_DIMENSIONS if self.get(d).value != "unknown"}


# --------------------------------------------------------------------------- reading

Role = Literal["knowledge", "input", "training", "model", "other", "hypo", "instruction", "none"]
ROLES: tuple[str, ...] = ("knowledge", "input", "training", "model", "other", "hypo", "instruction", "none")


class ClauseReading(BaseModel):
    """One clause of the text: where it is, the role of what it mentions, and what it says."""

    text: str
    start: int = Field(description="Offset of the clause in the text read.")
    end: int
    role: Role = "none"
    facts: dict[str, Value] = Field(default_factory=dict, description="dimension -> yes/no said by this clause")
    probabilities: dict[str, float] = Field(default_factory=dict, description="dimension -> probability of its fact")
    rule: Optional[str] = Field(None, description="Id of the precise rule that settled a fact, if one did.")


class Reading(BaseModel):
    """What a reader took from a text: the profile, with everything noticed on the way."""

    profile: Profile
    contradictions: list[str] = Field(default_factory=list, description="Dimensions said both yes and no.")
    on_topic: bool = True
    instructions_dropped: list[str] = Field(default_factory=list, description="Clauses addressed to the advisor.")
    clauses: list[ClauseReading] = Field(default_factory=list)
    distributions: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="dimension -> calibrated probability of yes / no / unknown")
    answer: Optional[Literal["yes", "no", "unknown"]] = Field(
        None, description="For an interview answer: the bare yes / no / don't-know word it opens with (rule R-ANSWER).")
    reader: str = "offline"

    def core_known(self) -> list[str]:
        """Core dimensions the text settled."""
        return [d for d in CORE_DIMENSIONS if self.profile.get(d).value != "unknown"]


# --------------------------------------------------------------------------- recommendation

class Citation(BaseModel):
    """A verbatim quote from the article backing a reason."""

    section_id: str
    heading_path: list[str] = []
    quote: str = Field(description="A verbatim span of the article.")
    title_en: str = ""
    summary_en: str = ""
    claim: Optional[str] = Field(None, description="The claim this quote backs (an id in knowledge/quotes.yaml).")


class Reason(BaseModel):
    dimension: str
    text: str
    citations: list[Citation]


class OpenQuestion(BaseModel):
    dimension: str
    question: str
    why: str


class WhyNot(BaseModel):
    """Why one outcome that was not chosen does not fit, cited."""

    decision: Decision
    text: str
    citations: list[Citation] = []


class Flip(BaseModel):
    """A smallest change in the facts that would flip the decision (from the policy alone)."""

    changes: dict[str, Value] = Field(description="dimension -> the value that would flip it, all taken as stated")
    decision: Decision = Field(description="The decision the policy gives with those changes.")
    text: str = Field("", description="The change in words (filled in by the advice, not the policy).")


Readiness = Literal["ready", "not_ready", "unknown", "outside_article"]


class ReadinessItem(BaseModel):
    """Whether the project looks ready on one practical topic, and where that judgement comes from."""

    topic: str = Field(description="labeled_data, upkeep, cost, latency (article) or an id of a topic it does not cover.")
    status: Readiness = Field(description="outside_article: the article does not cover it, so no quote backs the line.")
    text: str
    citations: list[Citation] = []
    question: str = Field("", description="The question that would settle it.")


class Recommendation(BaseModel):
    """The advice: decision, profile, cited reasons, caveats and what could change it."""

    decision: Decision
    confidence: float = Field(ge=0.0, le=1.0)
    engine: str = "offline"
    lang: Lang = "en"
    profile: Profile
    rationale: list[Reason]
    citations: list[Citation]
    open_questions: list[OpenQuestion] = []
    caveats: list[Reason] = []
    assumptions: list[str] = Field(default_factory=list, description="Dimensions assumed, not stated.")
    decided_by: list[str] = Field(default_factory=list, description="Dimensions that settled the outcome.")
    notices: list[str] = []
    # Added for the one-story advice (issue 10); all derived from the same outcome.
    headline: str = Field("", description="One sentence: the decision and why, in the advice's language.")
    why_not: list[WhyNot] = Field(default_factory=list, description="Each outcome not chosen, with why not.")
    what_would_change: list[Flip] = Field(default_factory=list,
                                          description="The smallest changes in the facts that flip the decision.")
    readiness: list[ReadinessItem] = Field(default_factory=list,
                                           description="Readiness where the article speaks to it, and what it does not cover.")


# --------------------------------------------------------------------------- golden cases

class ExpectedOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Decision
    profile: dict[str, Value] = {}
    must_cite: list[str] = []

    @field_validator("profile")
    @classmethod
    def _known_dims(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if k not in ALL_DIMENSIONS]
        if bad:
            raise ValueError(f"unknown dimension(s): {', '.join(bad)}")
        return v


class GoldenCase(BaseModel):
    """One golden case: a description and what the advisor must conclude from it."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    lang: Lang
    description: str
    expected: ExpectedOutcome
    tags: list[str] = []
    # For interview scripts: facts the simulated user knows beyond the description.
    facts: dict[str, Value] = {}


class GoldenSuite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    suite: str = Field(description="Versioned id, e.g. advisor.golden.v1")
    cases: list[GoldenCase]


class RetrievalQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: str
    lang: Lang
    expect: list[str] = Field(min_length=1, description="Section ids, any of which is a hit.")


# --------------------------------------------------------------------------- interview

class Snapshot(BaseModel):
    """What an interview knew just before a question was asked: `back` restores it."""

    profile: Profile = Profile()
    certainty: dict[str, float] = Field(default_factory=dict)
    contradictions: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    description: str = ""
    on_topic: bool = False


class Exchange(BaseModel):
    """One question and the answer it got (answer None while pending)."""

    dimension: Optional[str] = None
    question: str = ""
    answer: Optional[str] = None
    # Additive (sessions saved before these fields read as "no snapshot", "not withdrawn").
    before: Optional[Snapshot] = Field(None, description="The state before this question was answered.")
    withdrawn: bool = Field(False, description="The answer was taken back with 'back'.")


class InterviewState(BaseModel):
    """Everything an interview needs to resume: saved after every turn."""

    lang: Lang = "en"
    description: str = ""
    profile: Profile = Profile()
    history: list[Exchange] = []
    pending: Optional[str] = Field(None, description="Dimension of the question awaiting an answer.")
    skipped: list[str] = []
    done: bool = False
    recommendation: Optional[Recommendation] = None
    on_topic: bool = Field(False, description="Whether anything read so far was about an LLM project.")
    certainty: dict[str, float] = Field(default_factory=dict,
                                        description="dimension -> the reader's probability for the value it gave")
    contradictions: list[str] = Field(default_factory=list, description="Dimensions the description said both ways.")

    @property
    def questions_asked(self) -> int:
        return sum(1 for e in self.history if e.dimension)

    def core_known(self) -> list[str]:
        """Core dimensions settled so far."""
        return [d for d in CORE_DIMENSIONS if self.profile.get(d).value != "unknown"]


class FactChange(BaseModel):
    """One fact that differs between two recommendations' profiles."""

    dimension: str
    before: Value
    after: Value


class AdviceChange(BaseModel):
    """What moved when a finished interview was asked "what if …?" or told "change …"."""

    kind: Literal["what_if", "change"]
    said: str = Field(description="The person's words.")
    saved: bool = Field(description="True for a change (the session's answers were updated); False for a what-if.")
    decision_before: str
    decision_after: str
    confidence_before: Optional[float] = None
    confidence_after: Optional[float] = None
    facts: list[FactChange] = Field(default_factory=list, description="Facts whose value moved.")


class Turn(BaseModel):
    """What the advisor says next: a question, a short reply, or the recommendation."""

    kind: Literal["question", "info", "recommendation"]
    text: str
    question: Optional[OpenQuestion] = None
    recommendation: Optional[Recommendation] = None
    change: Optional[AdviceChange] = None  # set on the answer to a what-if or a change after the advice


# --------------------------------------------------------------------------- published shapes
# The shapes below are part of the published contract (schemas/*.v1.json, `make schemas`):
# batch rows, the article's sections and coverage as served to MCP hosts, interview steps.

class BatchResultRow(Recommendation):
    """One `advisor batch` output line that succeeded: the `recommend --json` object plus its id."""

    id: str = Field(description="The input row's id.")


class BatchRowError(BaseModel):
    type: str = Field(description="Machine-readable error type, e.g. missing_id, empty_description.")
    message: str = Field(description="One line saying what is wrong with the row.")


class BatchErrorRow(BaseModel):
    """One `advisor batch` output line that failed; the batch goes on."""

    id: Optional[str] = Field(description="The row's id, or null when it has none.")
    line: int = Field(description="Line (or CSV record) number in the input, from 1.")
    error: BatchRowError


class SectionInfo(BaseModel):
    """One section of the article: its verbatim text, where it sits, and what it is about."""

    section_id: str
    heading: str = Field(description="The article's own heading, verbatim.")
    heading_path: list[str] = Field(description="Headings from the top down to this section, verbatim.")
    title_en: str = Field(description="English title, in our words.")
    summary_en: str = Field(description="English summary, in our words.")
    text: str = Field(description="The section's body, verbatim from the source file.")
    source_start: int = Field(description="Offset of `text` in knowledge/article.zh.txt.")
    source_end: int
    dimensions: list[str] = Field(default_factory=list, description="Core dimensions the section speaks to.")
    aspects: list[str] = Field(default_factory=list, description="Other aspects the section speaks to.")
    supports: Optional[Decision] = Field(None, description="The decision the section argues for, if any.")


class CoverageTopic(BaseModel):
    """How far the article covers one topic of the advisor's vocabulary."""

    id: str = Field(description="A dimension, aspect, decision or use-case id.")
    kind: Literal["dimension", "aspect", "decision", "use_case"]
    title_en: str
    covered: bool = Field(description="False when no section of the article speaks to it.")
    sections: list[str] = Field(default_factory=list, description="Ids of the sections that speak to it.")
    supports: list[Decision] = Field(default_factory=list, description="Decisions those sections argue for.")
    note: str = Field(description="One line on the depth of coverage.")


CoverageStatus = Literal["quoted", "mentioned", "not_covered"]


class CoverageAspect(BaseModel):
    """How far the article covers one aspect the advice speaks to (knowledge/coverage.yaml)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    title_en: str
    status: CoverageStatus = Field(description="quoted: stated, with claims; mentioned: touched, never cited; "
                                               "not_covered: the article does not speak to it.")
    claims: list[str] = Field(default_factory=list, description="Claims in knowledge/quotes.yaml that cite it (quoted only).")
    sections: list[str] = Field(default_factory=list, description="Sections that mention it (mentioned only).")
    note: str = ""
    question: str = Field("", description="The question that would settle it (not quoted only).")

    @model_validator(mode="after")
    def _status_matches_its_sources(self) -> "CoverageAspect":
        if self.status == "quoted" and (not self.claims or self.sections):
            raise ValueError(f"{self.id}: a quoted aspect lists its claims and no sections")
        if self.status == "mentioned" and (self.claims or not self.sections):
            raise ValueError(f"{self.id}: a mentioned aspect lists its sections and no claims")
        if self.status == "not_covered" and (self.claims or self.sections):
            raise ValueError(f"{self.id}: an aspect not covered has no claims or sections")
        return self


class CoverageAspects(BaseModel):
    """knowledge/coverage.yaml."""

    model_config = ConfigDict(extra="forbid")
    aspects: list[CoverageAspect]


class CoverageMap(BaseModel):
    """What the article does and does not cover, derived from knowledge/sections.yaml."""

    article_title: str
    article_title_en: str
    sections: int = Field(description="Number of mapped sections.")
    topics: list[CoverageTopic]
    not_covered: list[str] = Field(description="Ids of topics no section speaks to.")
    out_of_scope: str = Field(description="What the advisor cannot answer from this article.")
    aspects: list[CoverageAspect] = Field(default_factory=list,
                                          description="Per aspect the advice speaks to: quoted, mentioned only, or not covered.")


class SectionRef(BaseModel):
    """A pointer to a section (read it with `explain` or article://sections/{id})."""

    section_id: str
    heading_path: list[str]
    title_en: str


class InterviewStep(BaseModel):
    """One turn of a stateless interview: the next question with an opaque state, or the advice."""

    kind: Literal["question", "info", "recommendation"] = Field(
        description="question: relay `question` to the user and call again with `state` and their answer; "
                    "info: a short reply (e.g. to 'why?'), then the same question; recommendation: done.")
    text: str = Field(description="What to show the user.")
    question: Optional[OpenQuestion] = Field(None, description="The pending question and why it is asked.")
    cites: list[SectionRef] = Field(default_factory=list, description="Sections behind the question's why.")
    state: Optional[str] = Field(None, description="Opaque, integrity-checked interview state: pass it back unchanged.")
    questions_asked: int = 0
    recommendation: Optional[Recommendation] = None


class Glossary(BaseModel):
    """knowledge/glossary.yaml: an English pattern -> the article's Chinese terms for that idea."""

    terms: dict[str, list[str]]


class QuoteSpec(BaseModel):
    """The article's sentence that states one claim (knowledge/quotes.yaml)."""

    model_config = ConfigDict(extra="forbid")
    section: str
    quote: str = Field(min_length=4)
    note: str = ""


class QuoteMap(BaseModel):
    """knowledge/quotes.yaml: claim id (e.g. `external_knowledge.yes`, `caveat.cost`) -> its quote."""

    model_config = ConfigDict(extra="forbid")
    claims: dict[str, QuoteSpec]


@dataclass(frozen=True)
class Rule:
    """A precise rule (reading's R-*, quoting's Q-*): its id, what it settles, and the examples
    (input -> expected output) that are its tests."""

    id: str
    says: str
    examples: tuple[tuple[str, object], ...]
