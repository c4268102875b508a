"""Structured-output forms: the schema goes in the form the endpoint accepts, learned once."""
from __future__ import annotations

import json

from fake_openai import FakeOpenAI, chat, server_error
from llm_fakes import TEST_KEY, FakeFallback

from agent.llm.client import LLMClient
from agent.engines.llm import LLMEngine
from agent.reading.llm import Extraction
from agent.llm.forms import FORMS, FormMemory, response_format

FINDINGS = json.dumps({"findings": [{"dimension": "external_knowledge", "value": "yes",
                                     "evidence": "our internal wiki", "source": "stated"}]})
WIKI = "We want answers from our internal wiki."


def kinds(server: FakeOpenAI) -> list:
    return [(r["json"].get("response_format") or {}).get("type") for r in server.requests
            if r["path"] == "/v1/chat/completions"]


def engine_for(server, settings_for, sleeps):
    settings = settings_for(server.url, TEST_KEY)
    fallback = FakeFallback()
    return LLMEngine(settings, fallback, client=LLMClient(settings, sleep=sleeps)), fallback


def test_a_refused_form_is_not_retried_and_the_accepted_one_is_remembered(settings_for, sleeps):
    with FakeOpenAI(api_key=TEST_KEY, refuse_forms=("json_schema",)) as server:
        server.enqueue(chat(FINDINGS), chat(FINDINGS))
        engine, fallback = engine_for(server, settings_for, sleeps)
        assert engine.extract(WIKI, "en").external_knowledge.value == "yes"
        assert kinds(server) == ["json_schema", "json_object"] and sleeps == []
        sent = server.chat_requests()[1]["response_format"]
        assert sent == {"type": "json_object", "schema": Extraction.model_json_schema()}
        assert fallback.calls == [] and engine.drain_notices() == []
        # A new process (a new engine on the same ADVISOR_HOME) goes straight to that form.
        again, _ = engine_for(server, settings_for, sleeps)
        again.extract(WIKI, "en")
        assert kinds(server)[2:] == ["json_object"]
    assert [c["form"] for c in engine.calls] == ["json_schema", "json_object+schema"]
    assert engine.calls[0]["outcome"].startswith("refused")


def test_a_server_failing_everything_is_not_remembered_as_refusing_every_form(settings_for,
                                                                             sleeps, tmp_path):
    with FakeOpenAI(api_key=TEST_KEY) as server:
        server.enqueue(*[server_error() for _ in range(8)])
        engine, fallback = engine_for(server, settings_for, sleeps)
        engine.extract(WIKI, "en")
        assert fallback.used("extract") == 1
        assert kinds(server)[:4] == ["json_schema", "json_object", "json_object", None]
        memory = FormMemory(engine.client.forms.path)
        assert memory.candidates(engine.client.form_key) == list(FORMS)


def test_once_a_form_worked_a_500_is_a_server_error_again(settings_for, sleeps):
    with FakeOpenAI(api_key=TEST_KEY) as server:
        server.enqueue(chat(FINDINGS), server_error(), chat(FINDINGS))
        engine, fallback = engine_for(server, settings_for, sleeps)
        engine.extract(WIKI, "en")
        engine.extract(WIKI, "en")  # 500, retried in the same form, then fine
        assert kinds(server) == ["json_schema"] * 3 and len(sleeps) == 1
        assert fallback.calls == []


def test_each_form_sends_the_schema_its_own_way():
    schema = {"type": "object"}
    assert response_format("json_schema", schema, "x") == {
        "type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert response_format("json_object+schema", schema, "x") == {"type": "json_object",
                                                                  "schema": schema}
    assert response_format("json_object", schema, "x") == {"type": "json_object"}
    assert response_format("text", schema, "x") is None


def test_an_unwritable_home_only_means_learning_again(tmp_path):
    memory = FormMemory(tmp_path / "file-not-dir" / "forms.json")
    (tmp_path / "file-not-dir").write_text("")
    memory.took("k", "json_object")  # cannot save: no error
    assert memory.known("k") == "json_object"


def test_an_endpoint_whose_streams_carry_no_counts_gets_the_advice_whole(settings_for, sleeps):
    from llm_fakes import make_rec

    with FakeOpenAI(api_key=TEST_KEY, stream_usage=False) as server:
        server.enqueue(chat("Use RAG [1]."), chat("Use RAG [2]."))
        engine, _ = engine_for(server, settings_for, sleeps)
        engine.new_turn()
        assert "".join(engine.write_advice(make_rec())) == "Use RAG [1]."
        assert engine.usage.estimated_calls == 1  # the first stream: counts had to be guessed
        again, _ = engine_for(server, settings_for, sleeps)  # the next run knows the endpoint
        again.new_turn()
        assert "".join(again.write_advice(make_rec())) == "Use RAG [2]."
        streamed = [r["json"].get("stream", False) for r in server.requests
                    if r["path"] == "/v1/chat/completions"]
    assert streamed == [True, False]
    assert again.usage.estimated_calls == 0 and again.usage.completion_tokens == 40


def test_a_slow_endpoint_gets_a_cap_it_can_finish_within_the_budget(settings_for, sleeps):
    import time

    with FakeOpenAI(api_key=TEST_KEY) as server:
        engine, _ = engine_for(server, settings_for, sleeps)
        client = engine.client
        client.forms.saw_rate(client.form_key, 100, 20.0)  # 5 tokens/s, as a loaded local server
        client.chat([{"role": "user", "content": "hi"}], max_tokens=512,
                    until=time.monotonic() + 10)
        (sent,) = server.chat_requests()
        assert sent["max_tokens"] == 32  # 5 tokens/s × 5 s (ADVISOR_LLM_TIMEOUT) × 0.8 = 20: the floor
        client.forms.forget(client.form_key)
        client.forms.saw_rate(client.form_key, 100, 2.0)  # 50 tokens/s
        client.chat([{"role": "user", "content": "hi"}], max_tokens=512,
                    until=time.monotonic() + 10)
        assert 180 <= server.chat_requests()[1]["max_tokens"] <= 200  # 50 × 5 × 0.8, not 512
