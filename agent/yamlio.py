"""YAML for the advisor's own data files: libyaml's C loader when PyYAML has it.

The pure-Python loader takes ~10x longer on the section map and the wording, and every
command reads both at start-up.
"""
from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """`yaml.safe_load`, with the C loader when available (same safe subset of YAML)."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, C or Python
