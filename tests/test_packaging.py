"""The first minute: the install prints no packaging warnings and `make run` installs no test tools."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def _shipped_folders() -> set[str]:
    """Importable folders (every part an identifier) that hold files the package data ships."""
    found = set()
    for package, patterns in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        base = ROOT / package.replace(".", "/")
        for pattern in patterns:
            for path in base.glob(pattern):
                rel = path.parent.relative_to(ROOT)
                if path.is_file() and all(part.isidentifier() for part in rel.parts):
                    found.add(".".join(rel.parts))
    return found


def test_every_importable_folder_is_listed_so_setuptools_does_not_warn():
    """setuptools prints a page ("Package would be ignored") for each importable folder whose files
    ship but which is missing from `packages`; before this test there were five such pages."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    shipped = _shipped_folders()
    assert "agent.reading.model" in shipped and "knowledge" in shipped, "the check sees the data folders"
    assert shipped - listed == set()


def test_make_run_installs_no_test_tools_and_make_test_does():
    makefile = (ROOT / "Makefile").read_text("utf-8")
    runtime = re.search(r"^\$\(STAMP\):.*?(?=^\S)", makefile, re.M | re.S).group(0)
    assert "[test]" not in runtime and "$(PIP) -e ." in runtime
    assert re.search(r"^run: \$\(STAMP\)$", makefile, re.M)
    assert re.search(r"^test: \$\(TEST_STAMP\)$", makefile, re.M)
    test_stamp = re.search(r"^\$\(TEST_STAMP\):.*?(?=^\S)", makefile, re.M | re.S).group(0)
    assert "'.[test]'" in test_stamp
    test_tools = {re.split(r"[<>=\[ ]", d)[0] for d in PYPROJECT["project"]["optional-dependencies"]["test"]}
    runtime_deps = {re.split(r"[<>=\[ ]", d)[0] for d in PYPROJECT["project"]["dependencies"]}
    assert "pytest" in test_tools and not test_tools & runtime_deps
