"""`advisor mcp` through the SDK's in-memory client: tools, errors, interview, resources, prompt."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.types import ElicitResult

from agent.api import Advisor
from agent.article.source import QuoteChecker, load_article
from agent.fronts.mcp.server import MAX_ASK_ROUNDS, build_server
from agent.explaining.render import to_json
from agent.settings import Settings
from agent.store.state_token import load_key
from test_schemas import validator

ROOT = Path(__file__).resolve().parents[1]
WIKI = "We want a bot that answers questions from our internal wiki, which changes every day."
KEY = b"k" * 32


@pytest.fixture
def adv(clean_env):
    return Advisor(Settings.from_env(), engine="offline")


@pytest.fixture
def server(adv):
    return build_server(adv, KEY)


def run(server, body, **client_kw):
    """Run `body(client)` against the server in memory, bounded in time."""
    async def main():
        with anyio.fail_after(120):
            async with Client(server, **client_kw) as client:
                return await body(client)
    return anyio.run(main)


def call(server, name, args, **client_kw):
    return run(server, lambda c: c.call_tool(name, args), **client_kw)


def error_line(result) -> str:
    assert result.is_error
    assert result.structured_content is None
    text = result.content[0].text
    assert "\n" not in text and "Traceback" not in text
    return text


def cli_error(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "agent.fronts.cli.main", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode != 0
    return proc.stderr.strip()


# ----------------------------------------------------------------------------- tools

def test_tools_have_input_and_output_schemas(server):
    tools = {t.name: t for t in run(server, lambda c: c.list_tools()).tools}
    assert set(tools) == {"recommend", "interview_step", "search_article", "explain"}
    assert tools["recommend"].input_schema["required"] == ["description"]
    assert set(tools["recommend"].input_schema["properties"]["lang"]["anyOf"][0]["enum"]) == {"en", "zh"}
    assert tools["search_article"].input_schema["properties"]["k"]["maximum"] == 50
    assert "required" not in tools["interview_step"].input_schema  # state and answer are optional
    assert "ctx" not in tools["interview_step"].input_schema["properties"]
    for tool in tools.values():
        assert tool.output_schema and tool.output_schema["type"] == "object"
        assert tool.description and tool.annotations.read_only_hint


def test_recommend_is_the_cli_json_with_verified_quotes(server, adv):
    result = call(server, "recommend", {"description": WIKI})
    assert not result.is_error
    data = result.structured_content
    validator("recommendation.v1.json").validate(data)
    assert data == to_json(adv.recommend(WIKI))  # the same library call as `recommend --json`
    assert json.loads(result.content[0].text) == data
    checker = QuoteChecker(load_article())
    quotes = [c for c in data["citations"]] + [c for r in data["rationale"] for c in r["citations"]]
    assert quotes and all(checker.is_verbatim(c["quote"], c["section_id"]) for c in quotes)


def test_recommend_lang_sets_the_language(server):
    result = call(server, "recommend", {"description": WIKI, "lang": "zh"})
    assert result.structured_content["lang"] == "zh"


def test_search_article(server):
    result = call(server, "search_article", {"query": "数据每天都变怎么办", "k": 2})
    data = result.structured_content
    validator("search-response.v1.json").validate(data)
    assert len(data["results"]) == 2
    source = (ROOT / "knowledge" / "article.zh.txt").read_text("utf-8")
    for hit in data["results"]:
        assert hit["heading_path"] and hit["section_id"]
        assert "".join(source[hit["source_start"]:hit["source_end"]].split()) == "".join(hit["text"].split())


def test_explain_is_verbatim(server):
    data = call(server, "explain", {"section_id": "considerations.external-knowledge"}).structured_content
    validator("section.v1.json").validate(data)
    source = (ROOT / "knowledge" / "article.zh.txt").read_bytes().decode("utf-8")
    assert data["text"] == source[data["source_start"]:data["source_end"]]
    assert data["title_en"] and data["summary_en"] and data["heading_path"][-1] == data["heading"]


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("tool, args, cli_args", [
    ("recommend", {"description": ""}, ("recommend", "")),
    ("recommend", {"description": "  \n\t "}, ("recommend", "  \n\t ")),
    ("search_article", {"query": "   "}, ("search", "   ")),
])
def test_bad_input_is_the_cli_line(server, tool, args, cli_args):
    assert error_line(call(server, tool, args)) == cli_error(*cli_args)


@pytest.mark.parametrize("tool, args, expect", [
    ("explain", {"section_id": "no.such.section"}, "error: unknown section id 'no.such.section'"),
    ("explain", {"section_id": " "}, "error: the section id is empty"),
    ("recommend", {}, "error: invalid arguments: description: Field required"),
    ("recommend", {"description": 42}, "error: invalid arguments: description:"),
    ("recommend", {"description": "a wiki bot", "lang": "fr"}, "error: invalid arguments: lang:"),
    ("search_article", {"query": "rag", "k": 0}, "error: invalid arguments: k: Input should be greater than or equal to 1"),
    ("search_article", {"query": "rag", "k": 51}, "error: invalid arguments: k:"),
    ("search_article", {"query": "rag", "k": "many"}, "error: invalid arguments: k:"),
    ("recommend", {"description": "x" * 100_001}, "error: the description is 100,001 characters"),
    ("recommend", {"description": "bad\x00bytes"}, "error: the description looks binary"),
])
def test_bad_arguments_are_one_line_tool_errors(server, tool, args, expect):
    assert error_line(call(server, tool, args)).startswith(expect)


def test_an_unexpected_failure_sends_no_traceback(server, adv, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("secret internals /home/x/file.py line 3")
    monkeypatch.setattr(Advisor, "search", boom)
    text = error_line(call(server, "search_article", {"query": "rag"}))
    assert text == "Error executing tool search_article"


# ----------------------------------------------------------------------------- interview (relayed)

def relay(server, first_answer: str, answers, **client_kw):
    """Drive interview_step as a host that relays questions; returns every step's structured result."""
    async def body(client):
        steps = []
        result = await client.call_tool("interview_step", {"answer": first_answer} if first_answer else {})
        for i in range(12):
            assert not result.is_error, result.content
            steps.append(result.structured_content)
            if steps[-1]["kind"] == "recommendation":
                break
            answer = answers[i] if i < len(answers) else "I don't know"
            result = await client.call_tool("interview_step", {"state": steps[-1]["state"], "answer": answer})
        return steps
    return run(server, body, **client_kw)


def test_relayed_interview_ends_in_a_recommendation(server):
    steps = relay(server, "", ["We need an internal assistant for HR questions", "yes, our HR handbook", "no"])
    v = validator("interview-step.v1.json")
    for step in steps:
        v.validate(step)
    assert steps[-1]["kind"] == "recommendation" and steps[-1]["state"] is None
    validator("recommendation.v1.json").validate(steps[-1]["recommendation"])
    questions = [s for s in steps if s["kind"] == "question"]
    assert questions and len(steps) <= 10
    for q in questions:
        assert q["state"].startswith("iv1.") and q["question"]["why"]
        assert q["cites"] and q["cites"][0]["section_id"] in {s.id for s in load_article().sections}
    assert steps[-1]["questions_asked"] >= 1


def test_just_recommend_finishes_and_why_keeps_the_question(server):
    async def body(client):
        first = (await client.call_tool("interview_step", {"answer": WIKI})).structured_content
        why = (await client.call_tool("interview_step", {"state": first["state"], "answer": "why?"})).structured_content
        again = (await client.call_tool("interview_step", {"state": why["state"]})).structured_content
        done = (await client.call_tool("interview_step", {"state": why["state"], "answer": "just recommend"})).structured_content
        return first, why, again, done
    first, why, again, done = run(server, body)
    assert first["kind"] == "question"
    assert why["kind"] == "info" and why["question"] == first["question"]
    assert again["kind"] == "question" and again["question"] == first["question"]  # no answer: the same question
    assert done["kind"] == "recommendation" and done["recommendation"]["decision"]


def test_state_is_opaque_and_tamper_proof(server, adv):
    first = call(server, "interview_step", {"answer": WIKI}).structured_content
    token = first["state"]
    assert "wiki" not in token.lower()
    body, mac = token[len("iv1."):].split(".")
    flipped = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    for bad in (flipped + "." + mac, token[:-4], token + "x", "iv1.", "hello", token.replace("iv1.", "iv2.")):
        text = error_line(call(server, "interview_step", {"state": bad, "answer": "yes"}))
        assert text.startswith("error: the interview state is invalid or was altered")
    # Sealed under another server's key: refused too.
    other = build_server(adv, b"x" * 32)
    assert error_line(call(other, "interview_step", {"state": token, "answer": "yes"})).startswith(
        "error: the interview state is invalid")


def test_state_key_is_kept_in_advisor_home_and_survives_a_restart(clean_env, adv):
    key = load_key(clean_env)
    assert (clean_env / "interview-state.key").stat().st_mode & 0o077 == 0
    assert load_key(clean_env) == key
    token = call(build_server(adv, key), "interview_step", {"answer": WIKI}).structured_content["state"]
    again = call(build_server(Advisor(Settings.from_env(), engine="offline"), load_key(clean_env)),
                 "interview_step", {"state": token, "answer": "no"})
    assert not again.is_error


# ----------------------------------------------------------------------------- interview (elicitation)

def answering(answers, log):
    async def callback(context, params):
        log.append(params.message)
        if len(log) > len(answers):
            return ElicitResult(action="accept", content={"answer": "I don't know"})
        action, text = answers[len(log) - 1]
        return ElicitResult(action=action, content={"answer": text} if action == "accept" else None)
    return callback


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # 2026-07-28 input-required results; 2025-11-25 elicitation
def test_a_client_that_can_be_asked_is_asked_directly(server, mode):
    log: list[str] = []
    result = call(server, "interview_step", {"answer": "We need an internal assistant for HR questions"},
                  mode=mode, elicitation_callback=answering([("accept", "yes, our HR handbook"), ("accept", "no")], log))
    data = result.structured_content
    validator("interview-step.v1.json").validate(data)
    assert data["kind"] == "recommendation" and data["state"] is None
    assert 1 <= len(log) <= MAX_ASK_ROUNDS
    assert "Why I ask:" in log[0]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_a_cancelled_form_hands_the_question_back(server, mode):
    log: list[str] = []
    data = call(server, "interview_step", {"answer": "We need an internal assistant for HR questions"},
                mode=mode, elicitation_callback=answering([("cancel", "")], log)).structured_content
    assert len(log) == 1
    assert data["kind"] == "question" and data["state"].startswith("iv1.")
    assert data["question"]["question"] in log[0]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_asking_directly_is_bounded(server, mode):
    log: list[str] = []
    data = call(server, "interview_step", {}, mode=mode,
                elicitation_callback=answering([("accept", "hmm")] * 30, log)).structured_content
    assert data["kind"] == "recommendation"
    assert len(log) <= MAX_ASK_ROUNDS


# ----------------------------------------------------------------------------- resources and prompt

def test_every_section_is_a_resource(server):
    async def body(client):
        listed = (await client.list_resources()).resources
        read = await client.read_resource("article://sections/use-cases.org-qa.data-dynamics")
        return listed, read
    listed, read = run(server, body)
    uris = {str(r.uri) for r in listed}
    assert {f"article://sections/{s.id}" for s in load_article().sections} <= uris
    data = json.loads(read.contents[0].text)
    validator("section.v1.json").validate(data)
    source = (ROOT / "knowledge" / "article.zh.txt").read_bytes().decode("utf-8")
    assert data["text"] == source[data["source_start"]:data["source_end"]]


def test_coverage_and_schema_resources(server):
    async def body(client):
        coverage = await client.read_resource("article://coverage")
        schema = await client.read_resource("advisor://schemas/recommendation.v1.json")
        return coverage, schema
    coverage, schema = run(server, body)
    cov = json.loads(coverage.contents[0].text)
    validator("coverage.v1.json").validate(cov)
    ids = {s.id for s in load_article().sections}
    assert cov["sections"] == len(ids)
    for topic in cov["topics"]:
        assert set(topic["sections"]) <= ids
        assert topic["covered"] == bool(topic["sections"]) and (topic["id"] in cov["not_covered"]) != topic["covered"]
    kinds = {t["kind"] for t in cov["topics"]}
    assert kinds == {"dimension", "aspect", "decision", "use_case"}
    assert json.loads(schema.contents[0].text) == json.loads((ROOT / "schemas" / "recommendation.v1.json").read_text())


def test_interview_prompt(server):
    async def body(client):
        listed = (await client.list_prompts()).prompts
        got = await client.get_prompt("interview", {"description": "a bot over our wiki"})
        return listed, got
    listed, got = run(server, body)
    assert [p.name for p in listed] == ["interview"]
    text = got.messages[0].content.text
    assert "interview_step" in text and "a bot over our wiki" in text and "{description_line}" not in text


def test_help_does_not_import_the_mcp_sdk():
    code = ("import sys\nfrom agent.fronts.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('LOADED' if any(m == 'mcp' or m.startswith('mcp.') for m in sys.modules) else 'CLEAN')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.stdout.strip().endswith("CLEAN"), proc.stdout[-300:]


def test_a_form_answer_of_the_wrong_shape_falls_back_to_relaying(server):
    async def wrong(context, params):
        return ElicitResult(action="accept", content={"not_answer": 1})
    data = call(server, "interview_step", {}, mode="legacy", elicitation_callback=wrong).structured_content
    assert data["kind"] == "question" and data["state"].startswith("iv1.")


def test_an_unknown_tool_is_a_one_line_error(server):
    assert error_line(call(server, "no_such_tool", {})) == "Unknown tool: no_such_tool"
