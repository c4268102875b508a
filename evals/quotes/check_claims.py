"""Validate evals/quotes/claims.v1.yaml against the article it quotes.

Checks: ids unique; each claim has at least one acceptable sentence; no sentence is both
acceptable and rejected (or listed twice); every sentence is a verbatim, whole sentence
of the article's body (before `body_end`); section ids exist, and every acceptable
sentence lies in one of its claim's sections. Stdlib + PyYAML only, so it runs anywhere.

    python3 evals/quotes/check_claims.py [claims.yaml]
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CLAIMS = ROOT / "evals" / "quotes" / "claims.v1.yaml"
KNOWLEDGE = ROOT / "knowledge"
# A sentence ends at a full stop, question or exclamation mark (the article mixes CJK and
# ASCII forms), or at the colon that introduces a list.
ENDS = "。！？!?:："


def _find_line(source: str, text: str, start: int, prefix: bool) -> int:
    """Offset of the first line at/after `start` that is `text` (or starts with it)."""
    tail = "" if prefix else r"[ \t]*$"
    m = re.search(r"^" + re.escape(text) + tail, source[start:], flags=re.M)
    return start + m.start() if m else -1


def section_spans(source: str, smap: dict) -> tuple[dict[str, tuple[int, int]], int, int]:
    """Locate each mapped section as agent/knowledge.py does: (spans by id, body start, body end)."""
    cursor = _find_line(source, smap["title"], 0, prefix=False)
    if cursor < 0:
        raise SystemExit("error: article title not found")
    starts = []
    for spec in smap["sections"]:
        inline = spec.get("inline_heading", False)
        pos = _find_line(source, spec["heading"], cursor, prefix=inline)
        if pos < 0:
            raise SystemExit(f"error: heading of {spec['id']} not found in order")
        body = pos if inline else pos + len(spec["heading"])
        starts.append((spec["id"], pos, body))
        cursor = pos + len(spec["heading"])
    end = source.find(smap["body_end"], cursor)
    if end < 0:
        raise SystemExit("error: body_end marker not found")
    spans = {}
    for i, (sid, _pos, body) in enumerate(starts):
        spans[sid] = (body, starts[i + 1][1] if i + 1 < len(starts) else end)
    return spans, starts[0][1], end


def whole_sentence(source: str, at: int, sentence: str) -> bool:
    """True when `sentence` at offset `at` starts and ends on sentence boundaries."""
    before = source[:at].rstrip(" \t")
    starts_ok = before == "" or before[-1] in "\n•" or before[-1] in ENDS
    after = source[at + len(sentence):at + len(sentence) + 1]
    # A "?" followed by a closing quote is inside a quotation, not the end of a sentence.
    ends_ok = sentence[-1] in ENDS and after not in ("”", '"')
    return starts_ok and ends_ok


def check(claims_path: Path = CLAIMS) -> list[str]:
    """Return every problem found in the claims file (empty when it is valid)."""
    source = (KNOWLEDGE / "article.zh.txt").read_text(encoding="utf-8")
    smap = yaml.safe_load((KNOWLEDGE / "sections.yaml").read_text(encoding="utf-8"))
    spans, body_start, body_end = section_spans(source, smap)
    doc = yaml.safe_load(claims_path.read_text(encoding="utf-8"))
    problems: list[str] = []
    claims = doc.get("claims") if isinstance(doc, dict) else None
    if not isinstance(claims, list) or not claims:
        return ["top level must be a mapping with a non-empty `claims:` list"]
    seen: set[str] = set()
    for n, claim in enumerate(claims):
        cid = claim.get("id") if isinstance(claim, dict) else None
        if not isinstance(cid, str) or not cid:
            problems.append(f"claim #{n}: missing id")
            continue
        if cid in seen:
            problems.append(f"{cid}: duplicate id")
        seen.add(cid)
        for key in ("claim_en", "section_ids", "acceptable", "rejected"):
            if key not in claim:
                problems.append(f"{cid}: missing `{key}`")
        acceptable = claim.get("acceptable") or []
        rejected = claim.get("rejected") or []
        if not all(isinstance(x, list) for x in (acceptable, rejected, claim.get("section_ids") or [])):
            problems.append(f"{cid}: section_ids, acceptable and rejected must be lists")
            continue
        if not acceptable:
            problems.append(f"{cid}: no acceptable sentence")
        for name, items in (("acceptable", acceptable), ("rejected", rejected)):
            if len(set(items)) != len(items):
                problems.append(f"{cid}: a sentence is listed twice in {name}")
        for s in set(acceptable) & set(rejected):
            problems.append(f"{cid}: both acceptable and rejected: {s[:30]}…")
        sids = claim.get("section_ids") or []
        for sid in sids:
            if sid not in spans:
                problems.append(f"{cid}: unknown section id {sid!r}")
        for name, items in (("acceptable", acceptable), ("rejected", rejected)):
            for s in items:
                if not isinstance(s, str) or not s:
                    problems.append(f"{cid}: {name} entry is not a sentence: {s!r}")
                    continue
                found = [m.start() for m in re.finditer(re.escape(s), source[:body_end])
                         if m.start() >= body_start]
                if not found:
                    problems.append(f"{cid}: {name} sentence not verbatim in the body: {s!r}")
                    continue
                whole = [at for at in found if whole_sentence(source, at, s)]
                if not whole:
                    problems.append(f"{cid}: {name} sentence is not a whole sentence: {s!r}")
                elif name == "acceptable" and not any(
                        spans[x][0] <= at < spans[x][1] for at in whole for x in sids if x in spans):
                    problems.append(f"{cid}: acceptable sentence outside its section_ids: {s[:30]}…")
    return problems


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else CLAIMS
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    try:
        problems = check(path)
    except yaml.YAMLError as exc:
        print(f"error: {path} is not valid YAML: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"FAIL: {len(problems)} problem(s) in {path.name}", file=sys.stderr)
        return 1
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    n_acc = sum(len(c["acceptable"]) for c in doc["claims"])
    n_rej = sum(len(c["rejected"]) for c in doc["claims"])
    print(f"OK: {len(doc['claims'])} claims, {n_acc} acceptable and {n_rej} rejected sentences")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
