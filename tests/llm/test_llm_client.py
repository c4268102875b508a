"""The client: retries with Retry-After, the deadline, and one-line errors without the key."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
from fake_openai import chat, error, html, rate_limited, server_error, slow
from llm_fakes import CASSETTES, TEST_KEY

from agent.errors import EndpointError
from agent.llm.client import EndpointFailure, LLMClient, display_url, retry_after
from agent.llm.usage import Usage, price

HI = [{"role": "user", "content": "hi"}]


def test_rate_limit_then_success_honours_retry_after(fake, cassette, settings_for, sleeps):
    fake.enqueue(rate_limited("1"), chat("hello"))
    client = LLMClient(settings_for(fake.url), sleep=sleeps)
    assert client.chat(HI).text == "hello"
    assert sleeps == [1.0]  # the server's Retry-After, not the exponential guess
    assert len(cassette.chats()) == 2
    assert client.usage.calls == 1


def test_repeated_server_errors_end_in_one_line(fake, cassette, settings_for, sleeps):
    fake.enqueue(*[server_error() for _ in range(4)])
    client = LLMClient(settings_for(fake.url), sleep=sleeps)
    with pytest.raises(EndpointFailure) as info:
        client.chat(HI)
    assert str(info.value) == (f"500 from {fake.url} after 4 attempts: the server is failing; "
                               "try again later")
    assert info.value.kind == "server" and not info.value.permanent
    assert len(sleeps) == 3 and all(0 < s <= 8.5 for s in sleeps)
    assert client.usage.calls == 0


def test_time_out_stops_at_the_deadline(fake, settings_for, sleeps):
    # No cassette: a recording cannot be slow. Talks to the fake server on loopback.
    fake.enqueue(*[slow(5) for _ in range(4)])
    client = LLMClient(settings_for(fake.url, llm_timeout=0.3, llm_deadline=0.5), sleep=sleeps)
    start = time.monotonic()
    with pytest.raises(EndpointFailure) as info:
        client.chat(HI)
    assert time.monotonic() - start < 2.0
    assert info.value.kind == "timeout"
    assert str(info.value).startswith(f"{fake.url} did not answer within 0.3 s")
    assert 1 <= len(fake.chat_requests()) <= 3


def test_wrong_key_is_a_clear_line_without_the_key(endpoint, cassette, settings_for, sleeps):
    wrong = "sk-wrong-key-9f8e7d6c5b4a39281706"
    client = LLMClient(settings_for(endpoint.url, wrong, model=endpoint.model), sleep=sleeps)
    with pytest.raises(EndpointFailure) as info:
        client.chat(HI)
    assert str(info.value) == f"401 from {display_url(endpoint.url)}: check OPENAI_API_KEY"
    assert info.value.permanent and sleeps == []  # never retried
    assert wrong not in str(info.value)


def test_unreachable_host(settings_for, sleeps):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    client = LLMClient(settings_for(url), sleep=sleeps)
    with pytest.raises(EndpointFailure) as info:
        client.chat(HI)
    assert str(info.value) == f"cannot reach {url}: is the server running?"
    assert sleeps == []  # a refused connection on loopback is not retried: nothing listens there


def test_unknown_model(endpoint, cassette, settings_for, sleeps):
    client = LLMClient(settings_for(endpoint.url, endpoint.key, model="no-such-model-xyz"),
                       sleep=sleeps)
    with pytest.raises(EndpointFailure) as info:
        client.chat(HI)
    assert str(info.value) == (f"model 'no-such-model-xyz' not found at {display_url(endpoint.url)}: "
                               "set ADVISOR_MODEL or --model")


@pytest.mark.parametrize("status", [200, 404])
def test_endpoint_answering_html(fake, cassette, settings_for, sleeps, status):
    fake.enqueue(html(status))
    client = LLMClient(settings_for(fake.url), sleep=sleeps)
    with pytest.raises(EndpointFailure) as info:
        client.chat(HI)
    assert str(info.value) == ("endpoint answered HTML, not the OpenAI API: check OPENAI_BASE_URL "
                               "(it usually ends in /v1)")


def test_quota_exhausted_is_not_retried(fake, cassette, settings_for, sleeps):
    fake.enqueue(error(429, "You exceeded your current quota.", code="insufficient_quota"))
    client = LLMClient(settings_for(fake.url), sleep=sleeps)
    with pytest.raises(EndpointFailure) as info:
        client.chat(HI)
    assert info.value.kind == "quota" and sleeps == []


def test_server_text_never_carries_the_key(fake, settings_for, sleeps):
    # Live against the fake: a cassette of this reply would itself hold the key.
    fake.enqueue(error(400, f"Invalid request for key {TEST_KEY}: 'max_tokens' is not supported"))
    client = LLMClient(settings_for(fake.url), sleep=sleeps)
    with pytest.raises(EndpointError) as info:
        client.chat(HI)
    assert TEST_KEY not in str(info.value)
    assert "'max_tokens' is not supported" in str(info.value)


def test_cassettes_hold_no_secrets():
    files = list(CASSETTES.glob("*.yaml"))
    assert files, "no cassettes recorded"
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert TEST_KEY not in text and "Bearer" not in text, path.name
        assert "authorization" not in text.lower(), path.name


def test_retry_after_forms():
    class Exc:
        def __init__(self, headers):
            self.response = type("R", (), {"headers": headers})()

    assert retry_after(Exc({"retry-after": "2"})) == 2.0
    assert retry_after(Exc({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < retry_after(Exc({"retry-after": date})) <= 31
    assert retry_after(Exc({})) is None
    assert retry_after(ValueError()) is None


def test_display_url_hides_credentials():
    assert display_url("https://user:pw@example.com/v1/?key=abc") == "https://example.com/v1"


def test_usage_and_estimated_cost():
    usage = Usage()
    usage.add("gpt-4o-mini-2024-07-18", 1000, 500, cached=400)
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (1, 1000, 500)
    assert usage.est_cost_usd == pytest.approx((600 * 0.15 + 400 * 0.075 + 500 * 0.60) / 1e6)
    assert price("llama3.1:8b") == (0.0, 0.0, 0.0)
    assert usage.drain()["calls"] == 1 and usage.drain() == {
        "calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "est_cost_usd": 0.0}
    usage.add("gpt-4o-mini", 10, 0)
    assert usage.drain()["prompt_tokens"] == 10 and usage.as_dict()["prompt_tokens"] == 1010
    assert set(usage.as_dict()) == {"calls", "prompt_tokens", "completion_tokens",
                                    "cached_tokens", "est_cost_usd", "estimated_calls"}
    assert price("gpt-4o") != price("gpt-4o-mini")


def test_no_client_is_built_at_import():
    code = ("import sys, agent.llm, agent.engines.llm, agent.llm.embeddings, agent.engines.doctor;"
            "print('openai' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
