"""The quote ground truth (evals/quotes/claims.v1.yaml) stays valid against the article."""
import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_claims", ROOT / "evals/quotes/check_claims.py")
check_claims = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_claims)


def test_shipped_claims_are_valid():
    assert check_claims.check() == []


def test_checker_catches_a_retyped_quote_and_an_overlap(tmp_path):
    doc = yaml.safe_load(check_claims.CLAIMS.read_text(encoding="utf-8"))
    first = doc["claims"][0]
    first["acceptable"][0] = first["acceptable"][0].replace(",", "，")  # full-width comma: not verbatim
    first["rejected"].append(first["acceptable"][1])
    bad = tmp_path / "claims.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    problems = check_claims.check(bad)
    assert any("not verbatim" in p for p in problems)
    assert any("both acceptable and rejected" in p for p in problems)
