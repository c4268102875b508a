"""The house rules of `agent/`, checked on the import graph (every import, lazy ones included).

- Each package may import only the packages listed for it in ALLOWED (data flows one way:
  reading -> deciding -> explaining, fronts over one API).
- Front-ends import only `agent.api`, `agent.types`, `agent.errors` and other fronts.
- No import cycles between modules.
- Nothing outside `agent/api.py` writes an Advisor's attributes (shared pieces are constructor arguments).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AGENT = ROOT / "agent"

FOUNDATION = {"agent", "agent.types", "agent.errors", "agent.settings", "agent.textproc", "agent.wording",
              "agent.yamlio"}
# package -> the packages (besides the foundation and itself) it may import
ALLOWED = {
    "foundation": set(),
    "agent.llm": set(),  # transport only
    "agent.article": {"agent.llm"},  # OpenAI embeddings go through the transport
    "agent.reading": set(),
    "agent.deciding": set(),  # never reading: the policy sees a profile, not text
    "agent.explaining": {"agent.article", "agent.deciding"},
    "agent.store": set(),
    "agent.engines": {"agent.reading", "agent.llm", "agent.article"},
    "agent.schemas": set(),
    "agent.api": {"agent.article", "agent.reading", "agent.deciding", "agent.explaining", "agent.store",
                  "agent.engines", "agent.llm", "agent.schemas"},
    "agent.fronts": {"agent.api"},
}
FRONT_MAY_IMPORT = {"agent.api", "agent.types", "agent.errors"}


def modules() -> dict[str, Path]:
    out = {}
    for f in AGENT.rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The agent modules `name` imports (a `from pkg import mod` counts as importing pkg.mod)."""
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known}
    return {m for m in found if m in known and m != name}


def group(module: str) -> str:
    if module in FOUNDATION:
        return "foundation"
    parts = module.split(".")
    return ".".join(parts[:2])


GRAPH = {name: imports(name, path, set(modules())) for name, path in modules().items()}


def test_every_module_belongs_to_a_known_package():
    unknown = sorted(m for m in GRAPH if group(m) not in ALLOWED)
    assert not unknown, f"place these in a package listed in ALLOWED (or add the package): {unknown}"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_what_they_may(package):
    may = ALLOWED[package] | {"foundation", package}
    bad = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() if group(m) == package
                 for t in targets if group(t) not in may)
    assert not bad, f"{package} may import only {sorted(may)}; found:\n" + "\n".join(bad)


def front_violations(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} -> {t}" for m, targets in graph.items() if m.startswith("agent.fronts")
                  for t in targets if t not in FRONT_MAY_IMPORT and not t.startswith("agent.fronts"))


def cycles_in(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state, stack = [], {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if t.startswith(m + ".") or m.startswith(t + "."):
                continue  # a package and its own modules
            if state.get(t) == "open":
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return cycles


def test_fronts_import_only_the_api_and_the_types():
    bad = front_violations(GRAPH)
    assert not bad, "front-ends import only agent.api, agent.types and agent.errors:\n" + "\n".join(bad)


def test_no_import_cycles():
    cycles = cycles_in(GRAPH)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_nothing_outside_the_api_writes_an_advisors_attributes():
    bad = []
    for name, path in modules().items():
        if name == "agent.api":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            # adv.__dict__[...] = ..., adv.__dict__.update(...), setattr(adv, ...)
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) \
                    and isinstance(node.value, ast.Attribute) and node.value.attr == "__dict__":
                bad.append(f"{name}:{node.lineno}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "update" and isinstance(node.func.value, ast.Attribute) \
                    and node.func.value.attr == "__dict__":
                bad.append(f"{name}:{node.lineno}")
    assert not bad, f"write shared pieces through Advisor(...) / Advisor.sibling(), not __dict__: {bad}"


def test_the_rules_can_fail():
    """The checkers see a forbidden import and a cycle when there is one (and the graph is not empty)."""
    assert "agent.api" in GRAPH["agent.fronts.cli.main"]
    assert "agent.deciding.policy" in GRAPH["agent.api"]
    fake = {"agent.fronts.x": {"agent.api", "agent.deciding.policy", "agent.fronts.y"},
            "agent.fronts.y": {"agent.fronts.x"}}
    assert front_violations(fake) == ["agent.fronts.x -> agent.deciding.policy"]
    assert cycles_in(fake) == [["agent.fronts.x", "agent.fronts.y", "agent.fronts.x"]]


def test_each_list_of_names_is_written_once_and_the_rest_agree():
    """The dimension names live in agent/types.py; the Profile's fields and the LLM prompt must match them."""
    from agent.types import ALL_DIMENSIONS, Profile

    assert tuple(Profile.model_fields) == ALL_DIMENSIONS
    prompt = (ROOT / "prompts" / "extract.v1.md").read_text("utf-8")
    listed = [line.split(":", 1)[0][2:] for line in prompt.splitlines()
              if line.startswith("- ") and ":" in line and line[2:].split(":", 1)[0].isidentifier()]
    assert [d for d in listed if d in ALL_DIMENSIONS or "_" in d] == list(ALL_DIMENSIONS)


def test_the_architecture_doc_lists_every_module():
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text("utf-8")
    missing = sorted(str(p.relative_to(ROOT)) for p in AGENT.rglob("*.py")
                     if p.name != "__init__.py" and f"`{p.relative_to(ROOT)}`" not in doc)
    assert not missing, f"docs/ARCHITECTURE.md lists every module in one line; add: {missing}"
