"""The engine against replies recorded from a real llama.cpp server (cassettes/llama/).

Recorded from llama-cpp-python[server] 0.3.36 with Gemma 3 270M (what `.ci/llama-setup`
installs). To re-record them:

    ADVISOR_RECORD=1 .venv/bin/python -m pytest tests/llm/test_llm_llama_cassettes.py   # starts the server
    ADVISOR_RECORD=1 OPENAI_BASE_URL=… ADVISOR_MODEL=… .venv/bin/python -m pytest tests/llm/test_llm_llama_cassettes.py

The assertions hold for any endpoint (the second line records against whatever it names):
they are about the protocol, not about what the model said.
"""
from __future__ import annotations

import pytest
from conftest import REAL, RECORD, USE_REAL, use_cassette
from llm_fakes import FakeFallback, FakeRetriever, make_rec

from agent.engines import llm_prompts as prompts
from agent.llm.client import LLMClient
from agent.engines.llm import CAPS, LLMEngine
from agent.llm.forms import FORMS
from agent.types import Profile

WIKI = ("We want an assistant that answers employee questions from our internal wiki. The wiki "
        "changes every week, and wrong answers would embarrass us in front of staff.")
REPLAY_URL = "http://127.0.0.1:9/v1"  # never reached: every reply comes from the cassette


@pytest.fixture(scope="module")
def llama_url(tmp_path_factory):
    """Where the recordings come from: a named endpoint, the local llama server, or nowhere."""
    if not RECORD:
        yield REPLAY_URL, "gemma3-270m"
        return
    if USE_REAL:
        yield REAL["OPENAI_BASE_URL"], REAL["ADVISOR_MODEL"] or "gpt-4o-mini"
        return
    from llama_server import ALIAS, LlamaServer, missing

    why = missing()
    if why:
        pytest.skip(why)
    with LlamaServer(tmp_path_factory.mktemp("llama") / "server.log") as server:
        yield server.url, ALIAS


@pytest.fixture
def llama_cassette(request):
    yield from use_cassette(f"llama/{request.node.name}.yaml")


def make_engine(llama_url, settings_for):
    url, model = llama_url
    key = REAL["OPENAI_API_KEY"] if USE_REAL else None
    # Generous: a tiny model on a busy 2-core machine may take a minute to read a long prompt.
    settings = settings_for(url, key, model=model, llm_timeout=170.0, llm_deadline=180.0)
    fallback = FakeFallback()
    return LLMEngine(settings, fallback, FakeRetriever(), client=LLMClient(settings)), fallback


def test_reading_learns_the_form_and_counts_the_servers_tokens(llama_url, llama_cassette,
                                                                settings_for):
    engine, fallback = make_engine(llama_url, settings_for)
    profile = engine.extract(WIKI, "en")
    assert isinstance(profile, Profile)
    calls = engine.calls
    forms = list(dict.fromkeys(c["form"] for c in calls))  # a re-ask repeats its form
    # Forms are tried in order; each refused one once; the accepted one is remembered.
    assert forms == sorted(forms, key=FORMS.index)
    refused = [c for c in calls if c["outcome"].startswith("refused")]
    answered = [c for c in calls if not c["outcome"].startswith(("refused", "failed"))]
    assert answered and len({c["form"] for c in refused}) == len(refused), [(c["seconds"], c["outcome"], c["max_tokens"]) for c in calls]
    assert engine.client.forms.known(engine.client.form_key) == answered[-1]["form"]
    # Every call carried the reading's cap and stayed under it.
    sent = [s.json for s in llama_cassette.sent]
    assert all(s["max_tokens"] == CAPS["extract"] for s in sent)
    assert all(c["completion_tokens"] <= CAPS["extract"] for c in answered)
    # The usage is the server's own count, summed over the calls it answered.
    assert engine.usage.calls == len(answered) and engine.usage.estimated_calls == 0
    assert engine.usage.prompt_tokens == sum(c["prompt_tokens"] for c in answered)
    # A schema-valid reading, or the fallback and its notice.
    notices = engine.drain_notices()
    assert (fallback.used("extract") == 0 and notices == []) or \
        (fallback.used("extract") == 1 and "offline engine" in notices[0])
    print(calls)


def test_a_stream_without_counts_is_remembered_and_the_advice_fetched_whole(llama_url,
                                                                           llama_cassette,
                                                                           settings_for):
    engine, _ = make_engine(llama_url, settings_for)
    client = engine.client
    messages = prompts.advice_messages(make_rec(), [])
    text = "".join(client.stream(messages, max_tokens=48))
    streamed = engine.calls[-1]
    assert llama_cassette.sent[0].json["stream"] is True
    assert llama_cassette.sent[0].json["max_tokens"] == 48
    with_counts = client.forms.stream_usage(client.form_key)
    assert with_counts is (engine.usage.estimated_calls == 0)  # a guess is marked as one
    if with_counts is False:  # llama-cpp-python: the engine then fetches the advice whole
        whole = client.chat(messages, max_tokens=48, kind="advice")
        assert llama_cassette.sent[1].json.get("stream") is not True
        assert whole.completion_tokens <= 48 and whole.prompt_tokens > 0
        assert engine.usage.calls == 2 and engine.usage.estimated_calls == 1
        # The whole reply's counts are the server's own: exactly what the usage added.
        assert engine.usage.completion_tokens == streamed["completion_tokens"] + whole.completion_tokens
    assert text or streamed["outcome"] != "stop"
    print(engine.calls)
