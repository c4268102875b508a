"""The reader's corpus: descriptions cut into labelled clauses, validated against their fact sheets.

A written record is `{"id", "clauses": [[labels, text], ...]}`; the description is the clauses'
texts joined as written. Labels are space-separated: `ek+` / `ek-` (a dimension said yes / no,
codes in training.sheets) and at most one `@role`. Facts in clauses whose role is `other`,
`hypo` or `instruction` are not the project's and must not be labelled.

`python -m training.corpus check FILE...` validates written files against their sheets.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .sheets import ASPECT_CODES, CODES

ROLES = ("knowledge", "input", "training", "model", "other", "hypo", "instruction")
Role = Literal["knowledge", "input", "training", "model", "other", "hypo", "instruction", "none"]
ALL_CODES = {**CODES, **ASPECT_CODES}
CORPUS_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "corpus" / "reading.v1"


class Clause(BaseModel):
    """One clause of a description and what it says about the project."""

    model_config = ConfigDict(extra="forbid")
    text: str
    facts: dict[str, Literal["yes", "no"]] = Field(default_factory=dict, description="dimension -> value")
    role: Role = "none"


class Description(BaseModel):
    """A labelled description, joined with the sheet it was written from."""

    model_config = ConfigDict(extra="forbid")
    id: str
    lang: Literal["en", "zh"]
    domain: str
    genre: str = Field(description="the register it is written in")
    family: str
    decision: str
    clauses: list[Clause] = Field(min_length=1)

    @property
    def text(self) -> str:
        return "".join(c.text for c in self.clauses)

    @field_validator("clauses")
    @classmethod
    def _some_text(cls, v: list[Clause]) -> list[Clause]:
        if not "".join(c.text for c in v).strip():
            raise ValueError("empty description")
        return v


def parse_labels(labels: str) -> tuple[dict[str, str], str]:
    """`"ek+ dd- @knowledge"` -> ({"external_knowledge": "yes", "data_dynamics": "no"}, "knowledge")."""
    facts: dict[str, str] = {}
    role = "none"
    for tok in labels.split():
        if tok.startswith("@"):
            if tok[1:] not in ROLES:
                raise ValueError(f"unknown role {tok!r}")
            role = tok[1:]
        elif tok[:-1] in ALL_CODES and tok[-1] in "+-":
            facts[ALL_CODES[tok[:-1]]] = "yes" if tok[-1] == "+" else "no"
        else:
            raise ValueError(f"bad label {tok!r}")
    return facts, role


def load_sheets(directory: Path = CORPUS_DIR / "sheets") -> dict[str, dict]:
    sheets = {}
    for f in sorted(directory.glob("sheets_*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            s = json.loads(line)
            sheets[s["id"]] = s
    return sheets


def build(record: dict, sheet: dict) -> Description:
    """A validated Description from a written record and its sheet; ValueError says what is off."""
    clauses = []
    for item in record["clauses"]:
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise ValueError(f"clause must be [labels, text], got {item!r}")
        facts, role = parse_labels(item[0])
        if facts and role in ("other", "hypo", "instruction"):
            raise ValueError(f"@{role} clause carries facts: {item!r}")
        clauses.append(Clause(text=item[1], facts=facts, role=role))
    want = {CODES[c]: v for c, v in sheet["facts"].items()}
    want.update({ASPECT_CODES[c]: v for c, v in sheet.get("aspects", {}).items()})
    got: dict[str, set[str]] = {}
    for c in clauses:
        for d, v in c.facts.items():
            got.setdefault(d, set()).add(v)
    for d, vs in got.items():
        if len(vs) > 1:
            raise ValueError(f"{d} is said both yes and no")
    got1 = {d: next(iter(vs)) for d, vs in got.items()}
    if got1 != want:
        missing = {d: v for d, v in want.items() if got1.get(d) != v}
        extra = {d: v for d, v in got1.items() if d not in want}
        raise ValueError(f"facts differ from the sheet: missing/wrong {missing}, not on the sheet {extra}")
    return Description(id=sheet["id"], lang=sheet["lang"], domain=sheet["domain"], genre=sheet["register"],
                       family=sheet["family"], decision=sheet["decision"], clauses=clauses)


def load(files: Optional[list[Path]] = None, strict: bool = True) -> list[Description]:
    """Every written description of the corpus, validated; `strict` raises on the first bad one."""
    sheets = load_sheets()
    files = files or sorted((CORPUS_DIR / "train").glob("*.jsonl"))
    out = []
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                out.append(build(rec, sheets[rec["id"]]))
            except (ValueError, KeyError) as e:
                if strict:
                    raise ValueError(f"{f.name}:{n}: {e}") from None
    return out


def check(files: list[Path]) -> int:
    """Print every problem in the written files; exit status 1 if any."""
    sheets = load_sheets()
    bad = good = 0
    seen: set[str] = set()
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if rec["id"] in seen:
                    raise ValueError(f"duplicate id {rec['id']}")
                seen.add(rec["id"])
                build(rec, sheets[rec["id"]])
                good += 1
            except (ValueError, KeyError, json.JSONDecodeError) as e:
                bad += 1
                print(f"{f}:{n}: {e}")
    print(f"{good} ok, {bad} bad")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "check":
        sys.exit("usage: python -m training.corpus check FILE...")
    sys.exit(check([Path(a) for a in sys.argv[2:]]))
