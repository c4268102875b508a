"""Fault servers on loopback: one wall-clock budget per turn, a reply-size cap, and a notice
whenever output was cut short or fell back. Live against the fake server (no cassettes): the
faults are about time. Each test is bounded by pytest-timeout well above its budget."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from fake_openai import FakeOpenAI, chat, fault
from llm_fakes import OFFLINE_ADVICE, TEST_KEY, FakeFallback, make_rec

from agent.llm.client import LLMClient
from agent.engines.llm import CAPS, LLMEngine

DEADLINE = 3.0
SLACK = 2.0  # the guarantee: a turn never runs past its deadline by more than this
FINDINGS = json.dumps({"findings": [{"dimension": "external_knowledge", "value": "yes",
                                     "evidence": "our internal wiki", "source": "stated"}]})
WIKI = "We want answers from our internal wiki."

pytestmark = pytest.mark.timeout(60)


def engine_for(fake, settings_for, **kw):
    # A per-call time-out far above the deadline: only the turn's budget can cut these short.
    settings = settings_for(fake.url, TEST_KEY, llm_timeout=30.0, llm_deadline=DEADLINE, **kw)
    fallback = FakeFallback()
    return LLMEngine(settings, fallback, client=LLMClient(settings)), fallback


def one_turn(engine, rec=None):
    """A `recommend` turn: read the text, then stream the advice. Returns (seconds, advice)."""
    start = time.monotonic()
    engine.extract(WIKI, "en")
    advice = "".join(engine.write_advice(rec or make_rec()))
    return time.monotonic() - start, advice


@pytest.mark.parametrize("kind", ["hang", "trickle"])
def test_a_silent_or_trickling_server_never_holds_the_turn_past_its_deadline(fake, settings_for,
                                                                             kind):
    fake.enqueue(fault(kind, interval=0.5))
    engine, fallback = engine_for(fake, settings_for)
    seconds, advice = one_turn(engine)
    assert seconds <= DEADLINE + SLACK
    assert fallback.used("extract") == 1 and advice == OFFLINE_ADVICE  # offline finished it
    assert len(fake.chat_requests()) == 1  # a time-out on loopback is not retried
    notices = engine.drain_notices()
    assert any("time budget (3 s, ADVISOR_LLM_DEADLINE)" in n and "offline" in n
               for n in notices), notices
    assert engine.name == "offline"


def test_a_stalled_stream_is_cut_at_the_deadline_with_a_notice(fake, settings_for):
    fake.enqueue(chat(FINDINGS), fault("stall_stream"))
    engine, fallback = engine_for(fake, settings_for)
    seconds, advice = one_turn(engine)
    assert seconds <= DEADLINE + SLACK
    assert advice.startswith("Part 1 of the advice.") and fallback.used("write_advice") == 0
    (notice,) = engine.drain_notices()
    assert "advice above is incomplete" in notice and "time budget" in notice
    assert engine.name == "llm"  # the model read the text; only the prose was cut


def test_a_dripping_stream_is_cut_at_the_deadline(fake, settings_for):
    fake.enqueue(chat(FINDINGS), fault("drip_stream", interval=0.4))
    engine, _ = engine_for(fake, settings_for)
    seconds, advice = one_turn(engine)
    assert seconds <= DEADLINE + SLACK and "Part 2" in advice
    assert any("incomplete" in n for n in engine.drain_notices())


def test_a_stream_that_stops_after_three_chunks_says_so(fake, settings_for):
    fake.enqueue(chat(FINDINGS), fault("truncate_stream"))
    engine, _ = engine_for(fake, settings_for)
    seconds, advice = one_turn(engine)
    assert "Part 3" in advice and seconds < DEADLINE
    (notice,) = engine.drain_notices()
    assert "the advice above is incomplete" in notice


def test_a_huge_reply_is_cut_off_not_read(fake, settings_for):
    fake.enqueue(fault("huge", size=5_000_000))
    engine, fallback = engine_for(fake, settings_for)
    seconds, _ = one_turn(engine)
    assert seconds < DEADLINE and fallback.used("extract") == 1
    assert len(fake.chat_requests()) == 1  # as large the next time: not retried
    assert any("larger than the reply-size cap" in n for n in engine.drain_notices())


def test_a_huge_streamed_advice_stops_at_its_cap(fake, settings_for):
    fake.enqueue(chat(FINDINGS), chat("word " * 40_000))
    engine, _ = engine_for(fake, settings_for)
    _, advice = one_turn(engine)
    from agent.engines.llm import MAX_ADVICE_CHARS
    assert len(advice) <= MAX_ADVICE_CHARS
    assert any("cut short at its length cap" in n for n in engine.drain_notices())


def test_every_call_carries_its_reply_cap(fake, settings_for):
    fake.enqueue(chat(FINDINGS), chat("Which model?"), chat("Use RAG [1]."))
    engine, _ = engine_for(fake, settings_for)
    engine.extract(WIKI, "en")
    engine.phrase_question("labeled_data", "en", make_rec().profile)
    "".join(engine.write_advice(make_rec()))
    caps = [r["max_tokens"] for r in fake.chat_requests()]
    assert caps == [CAPS["extract"], CAPS["question"], CAPS["advice"]]
    assert [c["kind"] for c in engine.calls] == ["extract", "question", "advice"]


def test_notices_follow_the_users_language(fake, settings_for):
    fake.enqueue(fault("hang"))
    engine, _ = engine_for(fake, settings_for)
    engine.extract("我们想用内部维基回答员工的问题。", "zh")
    "".join(engine.write_advice(make_rec("zh")))
    (notice,) = engine.drain_notices()
    assert "本轮的时间预算" in notice and "离线引擎" in notice


def test_a_repair_does_not_starve_the_advice(fake, settings_for):
    fake.enqueue(chat("not json"), chat(FINDINGS), chat("Use RAG [1]."))
    engine, fallback = engine_for(fake, settings_for)
    _, advice = one_turn(engine)
    assert advice == "Use RAG [1]." and fallback.calls == [] and engine.drain_notices() == []


# --------------------------------------------------------------------------- the command line

def run_cli(*args: str, env: dict, timeout: float = 120) -> tuple[int, str, str, float]:
    start = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "agent.fronts.cli.main", *args], capture_output=True,
                       text=True, env={**os.environ, **env}, timeout=timeout)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - start


def test_recommend_against_a_hung_server_finishes_offline_and_says_so(tmp_path):
    env = {"ADVISOR_HOME": str(tmp_path / "home"), "OPENAI_API_KEY": TEST_KEY,
           "ADVISOR_LLM_TIMEOUT": "30", "ADVISOR_LLM_DEADLINE": str(DEADLINE)}
    with FakeOpenAI(api_key=TEST_KEY) as server:
        # The offline run first: the same command's time without any model.
        code, _, err, offline = run_cli("recommend", "--engine", "offline", "--json", WIKI,
                                        env=env)
        assert code == 0, err
        server.enqueue(fault("hang"))
        env["OPENAI_BASE_URL"] = server.url
        code, out, err, took = run_cli("recommend", "--engine", "llm", "--json", WIKI, env=env)
    assert code == 0 and "Traceback" not in err, err
    rec = json.loads(out)
    assert rec["engine"] == "offline"
    assert any("time budget" in n for n in rec["notices"]), rec["notices"]
    assert took <= offline + DEADLINE + SLACK + 3.0  # 3 s for the openai import and a noisy CPU


def test_recommend_with_prose_shows_the_stream_notice_at_the_end(tmp_path):
    env = {"ADVISOR_HOME": str(tmp_path / "home"), "OPENAI_API_KEY": TEST_KEY,
           "ADVISOR_LLM_DEADLINE": "20"}
    with FakeOpenAI(api_key=TEST_KEY) as server:
        server.enqueue(chat(FINDINGS), fault("truncate_stream"))
        env["OPENAI_BASE_URL"] = server.url
        code, out, err, _ = run_cli("recommend", "--engine", "llm", "--markdown", WIKI, env=env)
    assert code == 0, err
    assert "Part 3 of the advice." in out
    assert out.rstrip().splitlines()[-1].startswith("> ") and "incomplete" in out.rsplit("Part 3", 1)[1]


def test_chat_saves_the_streamed_advices_tokens_to_the_session(tmp_path):
    env = {"ADVISOR_HOME": str(tmp_path / "home"), "OPENAI_API_KEY": TEST_KEY,
           "ADVISOR_LLM_DEADLINE": "20"}
    with FakeOpenAI(api_key=TEST_KEY) as server:
        server.enqueue(chat(FINDINGS))
        env["OPENAI_BASE_URL"] = server.url
        start = time.monotonic()
        p = subprocess.run([sys.executable, "-m", "agent.fronts.cli.main", "chat", "--engine", "llm"],
                           input=f"{WIKI}\njust recommend\n", capture_output=True, text=True,
                           env={**os.environ, **env}, timeout=120)
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
        assert time.monotonic() - start < 60
        sent = server.chat_requests()
        sid = p.stderr.split("Session ", 1)[1].split()[0]
        q = subprocess.run([sys.executable, "-m", "agent.fronts.cli.main", "sessions", "export", sid,
                            "--format", "json"], capture_output=True, text=True,
                           env={**os.environ, **env}, timeout=60)
    usage = json.loads(q.stdout)["usage"]
    assert sent[-1].get("stream") is True  # the advice was streamed…
    # …and its tokens (from the stream's usage chunk) are in the session with the others.
    assert usage["calls"] == len(sent)
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (120 * len(sent), 40 * len(sent))
