"""The offline engine's wording (prompts/offline.v1.yaml), validated on load."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from .yamlio import safe_load
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import UserError

WORDING_FILE = "offline.v1.yaml"


class Bilingual(BaseModel):
    model_config = ConfigDict(extra="forbid")
    en: str
    zh: str


class CitedLine(Bilingual):
    """A line backed by a claim's quote (an id in knowledge/quotes.yaml, or a `{…}` slot filled at run time)."""

    claim: str


class FlipWords(BaseModel):
    template: str
    join: str


class OutsideTopic(BaseModel):
    """A topic the article does not cover: what to say, and the question that would settle it."""

    model_config = ConfigDict(extra="forbid")
    says: str
    q: str


class QuestionText(BaseModel):
    q: str
    why: str


class QuestionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    en: QuestionText
    zh: QuestionText


class UseCaseCue(BaseModel):
    decision: str
    p: str


class RenderLabels(BaseModel):
    """Headings and short labels of the terminal and markdown renderings."""

    model_config = ConfigDict(extra="forbid")
    terminal: dict[str, dict[str, str]]
    readiness_status: dict[str, dict[str, str]]
    same_quote: dict[str, str]
    contradiction: dict[str, str]


class SuggestedPrompt(BaseModel):
    title: str
    message: str


class SlackWords(BaseModel):
    """The Slack bot's labels, answer buttons (what each sends, and what it says), status and prompts."""

    model_config = ConfigDict(extra="forbid")
    labels: dict[str, dict[str, str]]
    answer_labels: dict[str, dict[str, list[str]]]
    answer_values: dict[str, dict[str, str]]
    status: dict[str, str]
    suggested_prompts: list[SuggestedPrompt]
    prompts_title: str


class Wording(BaseModel):
    """All the offline engine's sentences, in English and Chinese."""

    model_config = ConfigDict(extra="forbid")
    version: str
    decision_names: dict[str, dict[str, str]]
    headline: dict[str, dict[str, str]]
    reasons: dict[str, dict[str, Bilingual]]
    prompting_reason: Bilingual
    use_case_reason: dict[str, str]
    caveats: dict[str, Bilingual]
    questions: dict[str, QuestionSpec]
    replies: dict[str, dict[str, str]]
    dimension_names: dict[str, dict[str, str]]
    use_cases: dict[str, UseCaseCue]
    why_not: dict[str, CitedLine]
    flip: dict[str, FlipWords]
    flip_changes: dict[str, dict[str, dict[str, str]]]
    readiness: dict[str, Bilingual]
    readiness_questions: dict[str, dict[str, str]]
    outside_article: dict[str, dict[str, OutsideTopic]]
    story_labels: dict[str, dict[str, str]]
    labels: RenderLabels
    slack: SlackWords


def prompts_dir() -> Path:
    return Path(str(resources.files("prompts")))


@lru_cache(maxsize=1)
def wording() -> Wording:
    """Load and validate the wording file once per process."""
    path = prompts_dir() / WORDING_FILE
    try:
        return Wording.model_validate(safe_load(path.read_text("utf-8")))
    except (yaml.YAMLError, ValidationError, OSError) as exc:
        raise UserError(f"{path}: invalid wording file: {str(exc).splitlines()[0]}") from exc
