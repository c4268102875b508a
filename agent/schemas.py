"""The published contract: JSON Schemas generated from the pydantic types in agent/types.py.

    python -m agent.schemas            # (re)write schemas/*.json   (make schemas)
    python -m agent.schemas --check    # exit 1 if a committed schema is stale

Keys beyond a schema's properties are allowed (the JSON shapes grow additively); a consumer
may rely on every property listed here.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Union

from pydantic import TypeAdapter

from .types import (BatchErrorRow, BatchResultRow, CoverageMap, InterviewStep, Recommendation, SearchResponse,
                    SectionInfo)

DRAFT = "https://json-schema.org/draft/2020-12/schema"
ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "schemas"


def _schema(name: str, title: str, description: str, shape) -> dict:
    body = TypeAdapter(shape).json_schema(mode="serialization")
    body.pop("title", None)
    body.pop("description", None)
    return {"$schema": DRAFT, "$id": f"advisor/{name}", "title": title, "description": description, **body}


SCHEMAS: dict[str, Callable[[], dict]] = {
    "recommendation.v1.json": lambda: _schema(
        "recommendation.v1.json", "Recommendation",
        "`advisor recommend --json`, the MCP tool `recommend`, and the final step of `interview_step`.",
        Recommendation),
    "search-response.v1.json": lambda: _schema(
        "search-response.v1.json", "SearchResponse",
        "`advisor search --json` and the MCP tool `search_article`.", SearchResponse),
    "batch-row.v1.json": lambda: _schema(
        "batch-row.v1.json", "BatchRow",
        "One line of `advisor batch` output: a recommendation with its id, or an error row.",
        Union[BatchResultRow, BatchErrorRow]),
    "interview-step.v1.json": lambda: _schema(
        "interview-step.v1.json", "InterviewStep", "The MCP tool `interview_step`.", InterviewStep),
    "section.v1.json": lambda: _schema(
        "section.v1.json", "SectionInfo", "The MCP tool `explain` and the resources article://sections/{id}.",
        SectionInfo),
    "coverage.v1.json": lambda: _schema(
        "coverage.v1.json", "CoverageMap", "The MCP resource article://coverage.", CoverageMap),
}


def render(name: str) -> str:
    """A schema file's exact text."""
    return json.dumps(SCHEMAS[name](), ensure_ascii=False, indent=2) + "\n"


def stale(folder: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files missing from `folder` or different from what the types generate."""
    out = []
    for name in SCHEMAS:
        path = folder / name
        if not path.exists() or path.read_text("utf-8") != render(name):
            out.append(name)
    return out


def write(folder: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema file into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in SCHEMAS:
        path = folder / name
        path.write_text(render(name), "utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.schemas", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed schema is stale")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="where the schema files live")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale(args.dir)
        if bad:
            print(f"stale schemas: {', '.join(bad)}: run make schemas", file=sys.stderr)
            return 1
        print(f"{len(SCHEMAS)} schemas up to date in {args.dir}")
        return 0
    for path in write(args.dir):
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
