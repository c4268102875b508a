"""Fact sheets sampled before any text is written, so every label is right by construction.

A sheet fixes a description's language, domain, register, hard-negative family and the value
of each core dimension; a writer then expresses exactly those facts. `python -m training.sheets`
writes the sheets the corpus was written from (fixed seed).
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from agent.deciding.policy import decide
from agent.types import DimensionValue, Profile

CODES = {"ek": "external_knowledge", "ma": "model_adaptation", "hc": "hallucination_critical",
         "ld": "labeled_data", "dd": "data_dynamics", "tr": "transparency"}
ASPECT_CODES = {"lat": "latency", "priv": "privacy", "cost": "cost", "scal": "scalability",
                "maint": "maintenance", "rob": "robustness", "integ": "integration",
                "ux": "user_experience", "cplx": "complexity"}

DOMAINS = [
    "hospital pharmacy", "insurance claims", "tax accounting", "e-commerce returns", "airline ops",
    "legal contracts", "patent drafting", "K-12 tutoring", "university admissions", "HR onboarding",
    "IT helpdesk", "cybersecurity triage", "chip design (Verilog)", "SQL analytics", "game NPC dialogue",
    "real estate listings", "agriculture advisory", "logistics dispatch", "banking compliance",
    "crypto exchange support", "clinical trial documents", "veterinary clinic", "restaurant chain",
    "automotive repair manuals", "energy grid operations", "government services", "museum guide",
    "recruiting", "fashion retail copywriting", "translation of subtitles", "scientific literature",
    "manufacturing QA", "telecom billing", "travel agency", "mental-health journaling app",
    "sports analytics", "newsroom", "open-source library docs", "mobile game community",
    "pharma regulatory writing", "construction safety", "library cataloguing",
]
REGISTERS = ["project README", "product brief / 需求文档", "RFP excerpt", "chat message",
             "issue-tracker ticket", "email", "paper abstract", "bullet list", "mixed zh-en",
             "typos and shorthand"]
# Registers of the second round of writers (w9-w12): how people write when nobody asked for a brief.
REGISTERS_V2 = ["meeting notes", "call or voice-memo transcript", "forum or Q&A-site post", "Slack or WeChat thread",
                "status update", "pitch-deck bullet", "user story / epic", "design doc excerpt",
                "one-line request to a colleague", "grant or budget request", "customer complaint relayed by staff",
                "job posting for the role that will build it"]
FAMILIES = {
    "plain": "an ordinary description: state the sheet's facts in your own words",
    "A": "skill gap: express ma=yes as the stock model being BAD AT THE TASK (scores poorly, invalid output, "
         "misses domain reasoning, 答非所问), never with style words like tone/voice",
    "B": "role confusion: mention something that sounds like knowledge but is not consulted at run time "
         "(training data's origin, input handed in with each request, the model or its host, a tool's "
         "input) and label its role; ek follows the sheet only",
    "C": "false contradiction: two clauses that look opposed but are not (e.g. 'we don't send the database' "
         "+ 'answers come from the handbook'); the sheet's values hold",
    "D": "on-topic, needs absent: an LLM feature whose needs the text states are absent (no documents, "
         "no special style, no data); every 'no' on the sheet must be stated",
    "off": "not about an LLM project at all (a question or a note on something else); no facts",
    "R": "roles: besides the project's own facts, at least two clauses that are NOT about the project: "
         "a competitor's or another team's setup (@other), a hypothetical or later phase (@hypo), or a line "
         "telling the advisor what to answer (@instruction); those clauses carry no facts",
    "T": "task learning: ma=yes because the model must learn the team's own task from examples: their label set "
         "or category tree, their codes or output schema, their experts' judgement, a small model to match a big "
         "one (distillation), a niche language; say it without style words, usually with plenty of examples",
    "E": "single-word trap: use a phrase a keyword reader gets wrong, e.g. 'no shortage of examples' (ld yes), "
         "harm stated without 'invent' (hc yes), '不能凭空编造' (hc yes), '三段论' (not a count), "
         "'won't change daily' (dd not yes), 'hardly ever changes' (dd no)",
}
FAMILY_WEIGHTS = {"plain": 0.34, "A": 0.16, "B": 0.2, "C": 0.06, "D": 0.1, "E": 0.14}


def _decision(values: dict[str, str]) -> str:
    p = Profile()
    for code, v in values.items():
        if v != "unknown":
            setattr(p, CODES[code], DimensionValue(value=v, evidence="x", source="stated"))
    if all(v == "unknown" for v in values.values()):
        return "undecided"
    return decide(p).decision


def sample_sheet(rng: random.Random, idx: int, writer: str, registers: list[str] = REGISTERS) -> dict:
    """One fact sheet; the decision follows from the values by the policy."""
    family = rng.choices(list(FAMILY_WEIGHTS), weights=list(FAMILY_WEIGHTS.values()))[0]
    lang = "zh" if rng.random() < 0.5 else "en"
    register = rng.choice(registers)
    if register == "mixed zh-en":
        lang = "zh"
    values = {c: rng.choices(["yes", "no", "unknown"], weights=[0.35, 0.2, 0.45])[0] for c in CODES}
    if family == "A":
        values.update(ma="yes", ld="yes")
    elif family == "D":
        values.update({c: "no" for c in ("ek", "ma")})
        for c in ("dd", "tr", "hc"):
            values[c] = rng.choice(["no", "unknown"])
        values["ld"] = rng.choice(["no", "unknown"])
    elif family == "B" and values["ek"] == "unknown":
        values["ek"] = rng.choice(["yes", "no"])
    if values["ek"] == "no" and family not in ("D",):
        # a stated ek=no with a stated dd/tr yes would say the knowledge axis both ways
        for c in ("dd", "tr"):
            if values[c] == "yes":
                values[c] = "unknown"
    if rng.random() < 0.03 and family == "plain":
        values = {c: "unknown" for c in CODES}  # on-topic but no usable facts
    aspects = {}
    for code in rng.sample(list(ASPECT_CODES), k=rng.choice([0, 0, 1, 1, 2])):
        aspects[code] = rng.choices(["yes", "no"], weights=[0.75, 0.25])[0]
    sheet = {"id": f"{writer}.{idx:04d}", "lang": lang, "domain": rng.choice(DOMAINS), "register": register,
             "family": family, "facts": {c: v for c, v in values.items() if v != "unknown"},
             "aspects": aspects, "decision": _decision(values)}
    lengths = ["one sentence", "2-3 sentences", "a short paragraph", "a long paragraph"]
    sheet["length"] = rng.choice(lengths[1:] if len(sheet["facts"]) > 2 else lengths)
    if family == "plain" and rng.random() < 0.04:
        sheet.update(family="off", facts={}, aspects={}, decision="undecided")  # not an LLM project at all
    return sheet


def main(writers: list[str], per_writer: int, out: Path, seed: int = 20261202) -> None:
    """Write sheets_<writer>.jsonl for each writer."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    for w in writers:
        with open(out / f"sheets_{w}.jsonl", "w", encoding="utf-8") as f:
            for i in range(per_writer):
                f.write(json.dumps(sample_sheet(rng, i, w), ensure_ascii=False) + "\n")


def roles_supplement(writer: str, n: int, out: Path, seed: int = 7) -> None:
    """Sheets whose family is R: role-heavy text, which plain sampling gives too rarely."""
    rng = random.Random(seed)
    with open(out / f"sheets_{writer}.jsonl", "w", encoding="utf-8") as f:
        for i in range(n):
            sheet = sample_sheet(rng, i, writer)
            if sheet["family"] == "off" or not sheet["facts"]:
                sheet["facts"] = {"ek": "yes"} if rng.random() < 0.5 else {"ma": "yes", "ld": "no"}
                sheet["decision"] = _decision({c: sheet["facts"].get(c, "unknown") for c in CODES})
            sheet["family"] = "R"
            f.write(json.dumps(sheet, ensure_ascii=False) + "\n")


def task_supplement(writer: str, n: int, out: Path, seed: int = 8) -> None:
    """Sheets whose family is T: behaviour needs stated as a task to learn, which plain sampling gives rarely."""
    rng = random.Random(seed)
    with open(out / f"sheets_{writer}.jsonl", "w", encoding="utf-8") as f:
        for i in range(n):
            sheet = sample_sheet(rng, i, writer)
            facts = dict(sheet["facts"])
            facts["ma"] = "yes"
            facts["ld"] = rng.choices(["yes", "no", "unknown"], weights=[0.7, 0.15, 0.15])[0]
            facts = {c: v for c, v in facts.items() if v != "unknown"}
            sheet.update(family="T", facts=facts, decision=_decision({c: facts.get(c, "unknown") for c in CODES}))
            f.write(json.dumps(sheet, ensure_ascii=False) + "\n")


def second_round(writers: list[str], n: int, out: Path, seed: int = 20261207) -> None:
    """Sheets for the second round of writers: the same sampler over other registers."""
    rng = random.Random(seed)
    for w in writers:
        with open(out / f"sheets_{w}.jsonl", "w", encoding="utf-8") as f:
            for i in range(n):
                f.write(json.dumps(sample_sheet(rng, i, w, REGISTERS_V2), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 360
    main(["w1", "w2", "w3", "w4", "w5", "w6"], n, Path("knowledge/corpus/reading.v1/sheets"))
    roles_supplement("w7", 200, Path("knowledge/corpus/reading.v1/sheets"))
    task_supplement("w8", 200, Path("knowledge/corpus/reading.v1/sheets"))
    second_round(["w9", "w10", "w11", "w12"], 150, Path("knowledge/corpus/reading.v1/sheets"))
