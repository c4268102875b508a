"""Golden case files: find them, parse them, validate every case, say exactly what is wrong.

A suite is one YAML file (`suite:` id plus `cases:`) or a folder of them. Each case is
validated on its own against `agent.types.GoldenCase`, so a problem names the file, the
case (1-based position and id) and the field. `must_cite` ids must be real section ids and
case ids must be unique across the files of a run. With `keep_going` malformed cases (and
unreadable files) are skipped and reported; otherwise the first problem stops the run
before anything is evaluated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml
from pydantic import ValidationError

from agent.errors import UserError
from agent.types import GoldenCase, GoldenSuite

PACKAGE = "evals"
DEFAULT_SUITE = ("golden", "advisor.golden.v1.yaml")


def default_suite_path() -> Path:
    """The bundled golden suite, located through the installed `evals` package."""
    return Path(str(resources.files(PACKAGE).joinpath(*DEFAULT_SUITE)))


@dataclass(frozen=True)
class CaseProblem:
    """One thing wrong with a case file: where (file, case, field) and what."""

    file: Path
    case: Optional[str]  # "#3 (en.some-id)", "#3" or None for the file itself
    field: Optional[str]
    message: str

    def line(self) -> str:
        where = [str(self.file)]
        if self.case:
            where.append(f"case {self.case}")
        if self.field:
            where.append(f"field {self.field}")
        return f"{': '.join(where)}: {self.message}"


@dataclass
class LoadedSuite:
    """The valid cases of a run, where each came from, and what was skipped."""

    name: str
    cases: list[GoldenCase]
    files: list[Path]
    source: dict[str, Path] = field(default_factory=dict)
    problems: list[CaseProblem] = field(default_factory=list)


def suite_files(path: Optional[Path]) -> list[Path]:
    """The YAML files named by --suite: one file, or every *.yaml/*.yml in a folder."""
    path = Path(path) if path is not None else default_suite_path()
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        if not files:
            raise UserError(f"{path}: no *.yaml case files in this folder")
        return files
    if not path.exists():
        raise UserError(f"{path}: no such case file or folder (--suite takes a YAML file or a folder)")
    return [path]


def _loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(case)"


def _first_error(exc: ValidationError) -> tuple[str, str]:
    """(field, message) of the error to show first: an unknown (mistyped) field wins."""
    errors = sorted(exc.errors(), key=lambda e: e.get("type") != "extra_forbidden")
    err = errors[0]
    msg = err.get("msg", "invalid")
    if err.get("type") == "literal_error" and "expected" in err.get("ctx", {}):
        msg = f"must be one of {err['ctx']['expected']}, got {err.get('input')!r}"
    elif err.get("type") == "extra_forbidden":
        msg = "unknown field (typo?)"
    others = [_loc(e.get("loc", ())) for e in errors[1:]]
    if others:
        msg += f" (also: {', '.join(others[:3])}{', …' if len(others) > 3 else ''})"
    return _loc(err.get("loc", ())), msg


def _label(index: int, raw: Any) -> str:
    cid = raw.get("id") if isinstance(raw, dict) else None
    return f"#{index + 1} ({cid})" if isinstance(cid, str) and cid else f"#{index + 1}"


def parse_file(path: Path, known_sections: Optional[set[str]] = None) -> tuple[str, list[GoldenCase], list[CaseProblem]]:
    """(suite id, valid cases, problems) of one case file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return "", [], [CaseProblem(path, None, None, f"cannot read the file: {exc}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return "", [], [CaseProblem(path, None, None, f"not valid YAML{where}: {problem}")]
    if not isinstance(raw, dict):
        return "", [], [CaseProblem(path, None, None, "expected a mapping with `suite:` and `cases:`")]
    problems: list[CaseProblem] = []
    extra = sorted(set(raw) - set(GoldenSuite.model_fields))
    if extra:
        problems.append(CaseProblem(path, None, extra[0], "unknown top-level field"))
    name = raw.get("suite")
    if not isinstance(name, str) or not name.strip():
        problems.append(CaseProblem(path, None, "suite", "missing: a versioned suite id, e.g. advisor.golden.v1"))
        name = path.stem
    items = raw.get("cases")
    if not isinstance(items, list) or not items:
        problems.append(CaseProblem(path, None, "cases", "missing or empty: a list of cases"))
        return name, [], problems
    cases: list[GoldenCase] = []
    for i, item in enumerate(items):
        label = _label(i, item)
        try:
            case = GoldenCase.model_validate(item)
        except ValidationError as exc:
            where, msg = _first_error(exc)
            problems.append(CaseProblem(path, label, where, msg))
            continue
        unknown = [s for s in case.expected.must_cite if known_sections is not None and s not in known_sections]
        if unknown:
            problems.append(CaseProblem(path, label, "expected.must_cite",
                                        f"unknown section id {unknown[0]!r} (see knowledge/sections.yaml)"))
            continue
        cases.append(case)
    return name, cases, problems


def load_suite(path: Optional[Path] = None, *, keep_going: bool = False,
               known_sections: Optional[set[str]] = None) -> LoadedSuite:
    """All valid cases of --suite. Without keep_going any problem is a one-line UserError."""
    files = suite_files(path)
    names: list[str] = []
    cases: list[GoldenCase] = []
    source: dict[str, Path] = {}
    problems: list[CaseProblem] = []
    for f in files:
        name, got, bad = parse_file(f, known_sections)
        problems += bad
        if name and got:
            names.append(name)
        for case in got:
            if case.id in source:
                problems.append(CaseProblem(f, f"({case.id})", "id", f"duplicate id, already in {source[case.id]}"))
                continue
            source[case.id] = f
            cases.append(case)
    if problems and not keep_going:
        more = len(problems) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise UserError(f"{problems[0].line()}{tail}; fix it, or pass --keep-going to skip malformed cases")
    if not cases:
        raise UserError(f"{', '.join(map(str, files))}: no valid cases to run")
    return LoadedSuite(name="+".join(dict.fromkeys(names)), cases=cases, files=files, source=source,
                       problems=problems)
