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
    section: str
    en: str
    zh: str


class QuestionText(BaseModel):
    q: str
    why: str


class QuestionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    section: str
    en: QuestionText
    zh: QuestionText


class UseCaseCue(BaseModel):
    decision: str
    p: str


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
