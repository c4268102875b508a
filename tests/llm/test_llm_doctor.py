"""`advisor doctor`: a checklist with ✓/✗, exit 1 when something required fails, no key shown."""
from __future__ import annotations

import json

import typer
import re

from fake_openai import FakeOpenAI, chat, html
from llm_fakes import TEST_KEY
from typer.testing import CliRunner

from agent.fronts.cli.doctor import doctor
from agent.engines.doctor import mask

app = typer.Typer()
app.command("doctor")(doctor)
app.command("other")(lambda: None)  # two commands, so "doctor" is a sub-command as in cli.py


def run(*args: str, **env: str):
    result = CliRunner().invoke(app, ["doctor", *args], env=env)
    return result.exit_code, result.output


def test_doctor_all_good(endpoint, cassette):
    endpoint.fake.enqueue(chat("ok"), chat("ok"), chat(FINDINGS))
    code, out = run("--base-url", endpoint.url, "--model", endpoint.model,
                    OPENAI_API_KEY=endpoint.key)
    assert code == 0, out
    for line in ("✓ settings", "✓ base URL", "✓ /models", "✓ chat"):
        assert line in out
    # Which structured-output form the endpoint took, and the reading fit the schema.
    assert re.search(r"[✓·] schema    (json_schema|json_object\+schema|json_object|text): ", out)
    if not endpoint.real:
        assert "✓ schema    json_schema: JSON schema (response_format json_schema)" in out
        sent = cassette.chats()[-1]
        assert sent["response_format"]["type"] == "json_schema" and sent["max_tokens"] > 0
    if endpoint.key:  # a local server recorded without a key shows "· api key  not set"
        assert "✓ api key" in out and endpoint.key[-4:] in out and endpoint.key not in out
    assert out.rstrip().endswith("ok: the llm engine will be used")


def test_doctor_wrong_key(fake, cassette):
    wrong = "sk-wrong-key-9f8e7d6c5b4a39281706"
    code, out = run("--base-url", fake.url, OPENAI_API_KEY=wrong)
    assert code == 1
    assert f"✗ /models   401 from {fake.url}: check OPENAI_API_KEY" in out
    assert "– chat" in out and wrong not in out
    assert len(cassette.sent) == 1  # no point asking the chat endpoint after a 401


def test_doctor_unknown_model_as_json(fake, cassette):
    code, out = run("--base-url", fake.url, "--model", "no-such-model", "--json",
                    OPENAI_API_KEY=TEST_KEY)
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["engine"] == "offline"
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["model"]["status"] == "info" and not checks["model"]["required"]
    assert checks["chat"]["status"] == "fail"
    assert checks["chat"]["detail"].startswith("model 'no-such-model' not found at")
    assert TEST_KEY not in out


FINDINGS = json.dumps({"findings": [{"dimension": "external_knowledge", "value": "yes",
                                     "evidence": "our internal wiki", "source": "stated"}]})


def test_doctor_fails_on_an_empty_reply(fake, cassette):
    fake.enqueue(chat(""))
    code, out = run("--base-url", fake.url, OPENAI_API_KEY=TEST_KEY)
    assert code == 1 and "✗ chat" in out and "empty reply" in out
    assert "– schema    skipped" in out and "– stream" in out


def test_doctor_reports_a_llama_cpp_style_endpoint_as_json():
    # llama-cpp-python answers json_schema with a 500: the form is refused, not retried.
    with FakeOpenAI(api_key=TEST_KEY, refuse_forms=("json_schema",),
                    stream_usage=False) as server:
        server.enqueue(chat("ok"), chat("ok"), chat(FINDINGS))
        code, out = run("--base-url", server.url, "--json", OPENAI_API_KEY=TEST_KEY)
        kinds = [(r["json"].get("response_format") or {}).get("type")
                 for r in server.requests if r["path"] == "/v1/chat/completions"]
    report = json.loads(out)
    assert code == 0 and report["structured_output"] == "json_object+schema"
    assert kinds == [None, None, "json_schema", "json_object"]  # the refused form tried once
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["stream"]["status"] == "info" and "fetched whole" in checks["stream"]["detail"]


def test_doctor_html(fake, cassette):
    fake.enqueue(html(path="/v1/models"))
    code, out = run("--base-url", fake.url, OPENAI_API_KEY=TEST_KEY)
    assert code == 1 and "✗ /models   endpoint answered HTML, not the OpenAI API" in out


def test_doctor_unreachable():
    code, out = run("--base-url", "http://127.0.0.1:9/v1", "--engine", "llm")
    assert code == 1
    assert "✗ /models   cannot reach http://127.0.0.1:9/v1: is the server running?" in out
    assert "· api key" in out  # no key is fine for a local server


def test_doctor_without_an_endpoint():
    code, out = run()
    assert code == 0 and "· endpoint  no endpoint configured: auto uses the offline engine" in out
    code, out = run("--engine", "llm")
    assert code == 1 and "✗ endpoint" in out
    code, out = run("--engine", "offline")
    assert code == 0 and "offline" in out
    code, out = run("--engine", "sometimes")
    assert code == 1 and "✗ settings" in out


def test_doctor_rejects_a_base_url_that_is_not_http():
    code, out = run("--base-url", "localhost:11434/v1", OPENAI_API_KEY=TEST_KEY)
    assert code == 1 and "is not an http(s) URL" in out


def test_mask_never_shows_a_usable_key():
    assert mask(TEST_KEY) == f"set (sk-…cdef, {len(TEST_KEY)} characters)"
    assert mask("short") == "set (5 characters)"
