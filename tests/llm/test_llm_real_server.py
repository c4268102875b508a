"""The LLM engine against a real llama.cpp server (llama-cpp-python[server], Gemma 3 270M).

Asserts the protocol, never the model's wisdom: exit 0 and no traceback, a schema-valid reading
or a shown fallback notice, usage recorded equal to the server's own counts, every call within
its reply cap and every turn within its budget. A counting proxy between the advisor and the
server writes down each call. `.ci/llama-setup` installs the server and the model; without
them the test is skipped, except under CI, where it fails. Run it alone with:

    .venv/bin/python -m pytest -s -m slow tests/llm/test_llm_real_server.py
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from counting_proxy import CountingProxy
from llama_server import ALIAS, LlamaServer, missing

from agent.engines.llm import CAPS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DEADLINE = 45.0  # ADVISOR_LLM_DEADLINE for these runs
SLACK = 2.0
CJK = re.compile(r"[\u4e00-\u9fff]")
TEXTS = {
    "en": ("We want an assistant that answers employee questions from our internal wiki. The "
           "wiki changes every week, and wrong answers would embarrass us in front of staff."),
    "zh": "我们想做一个根据内部知识库回答员工问题的助手。知识库每周都会更新，答错会很尴尬。",
}
ANSWERS = ["We have about 200 labelled examples.", "Answers must cite the wiki page.",
           "Latency does not matter."]
FALLBACKS = ("offline engine", "离线引擎")


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    why = missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {why}: .ci/run installs it with .ci/llama-setup")
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("llama")
    with LlamaServer(folder / "server.log") as server, CountingProxy(server.url) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("advisor-home")


def advisor(proxy: CountingProxy, home, *args: str, stdin: str = "",
            deadline: float = DEADLINE) -> tuple:
    """Run the advisor CLI against the proxy.

    Returns (code, stdout, stderr, the chat calls the proxy saw, the advisor's own call log).
    """
    log = home / f"calls-{time.monotonic_ns()}.jsonl"
    env = {**os.environ, "ADVISOR_HOME": str(home), "OPENAI_BASE_URL": proxy.url,
           "ADVISOR_MODEL": ALIAS, "ADVISOR_LLM_DEADLINE": str(deadline),
           "ADVISOR_LLM_TIMEOUT": str(deadline), "ADVISOR_LLM_CALL_LOG": str(log)}
    before = len(proxy.chats())
    start = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "agent.fronts.cli.main", *args], input=stdin,
                       capture_output=True, text=True, env=env, timeout=300)
    took = time.monotonic() - start
    calls = proxy.chats()[before:]
    own = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    _report(args[0], took, own)
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr
    return p.returncode, p.stdout, p.stderr, calls, own


def _report(what: str, seconds: float, own: list[dict]) -> None:
    """Per-call times and tokens as the advisor logged them (run with -s to see them)."""
    print(f"\n{what}: {seconds:.1f} s in all, {len(own)} model calls")
    for c in own:
        print(f"  turn {c['turn']}  {c['kind']:<8} {c['seconds']:6.2f} s  "
              f"form {c['form'] or '-':<18} max_tokens {c['max_tokens']:>4}  "
              f"prompt {c['prompt_tokens']}  completion {c['completion_tokens']}  {c['outcome']}")


def _within_caps(calls: list[dict]) -> None:
    """Every request carried a cap, and no reply the server finished went past it."""
    for c in calls:
        assert c["max_tokens"] is not None and c["max_tokens"] <= max(CAPS.values()), c
        if c["status"] == 200 and c["usage"]:
            assert c["usage"]["completion_tokens"] <= c["max_tokens"], c


def _within_budget(own: list[dict]) -> None:
    """Each turn's calls, from the first start to the last end, fit in the turn's budget."""
    turns: dict[int, list[dict]] = {}
    for c in own:
        turns.setdefault(c["turn"], []).append(c)
    for calls in turns.values():
        took = max(c["started"] + c["seconds"] for c in calls) - min(c["started"] for c in calls)
        assert took <= DEADLINE + SLACK, f"a turn took {took:.1f} s"


def test_doctor_reports_the_form_the_server_takes(llama, home):
    # doctor checks what the endpoint can do, not a user's turn: it may take longer on a
    # machine busy with other work (its own deadline is 2 x ADVISOR_LLM_TIMEOUT + 1 s).
    code, out, err, calls, own = advisor(llama, home, "doctor", "--json", deadline=120.0)
    report = json.loads(out)
    assert code == 0 and report["ok"], out
    assert report["structured_output"] in ("json_schema", "json_object+schema", "json_object",
                                           "text")
    print(f"  structured output: {report['structured_output']}")
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["chat"]["status"] == "ok"  # a non-empty reply
    assert calls[0]["max_tokens"] == 8
    # A form the server refused was tried once, never retried.
    refused = [c for c in calls if c["status"] != 200]
    assert len({c["response_format"] for c in refused}) == len(refused)
    _within_caps(calls)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_recommend_reads_with_the_schema_or_says_it_fell_back(llama, home, lang):
    code, out, err, calls, own = advisor(llama, home, "recommend", "--engine", "llm", "--json",
                                         TEXTS[lang])
    assert code == 0, err
    rec = json.loads(out)
    assert rec["decision"] in ("rag", "fine-tuning", "hybrid", "prompting", "undecided")
    assert calls and own, "no call reached the server"
    if rec["engine"] == "llm":
        # The model's reading was used: schema-valid (after at most one re-ask), no notice.
        assert not any(w in n for n in rec["notices"] for w in FALLBACKS), rec["notices"]
    else:
        fell_back = [n for n in rec["notices"] if any(w in n for w in FALLBACKS)]
        assert fell_back, rec["notices"]
        if lang == "zh":
            assert all(CJK.search(n) for n in fell_back), fell_back
    assert len(own) <= 2  # a reading and at most one re-ask
    _within_caps(calls)
    _within_budget(own)


def test_three_answer_chat_saves_the_servers_own_token_counts(llama, home):
    stdin = "\n".join([TEXTS["en"], *ANSWERS]) + "\n"
    code, out, err, calls, own = advisor(llama, home, "chat", "--engine", "llm", stdin=stdin)
    assert code == 0, err
    sid = re.search(r"Session (\S+) ", err).group(1)
    code, exported, err2, _, _ = advisor(llama, home, "sessions", "export", sid, "--format",
                                         "json")
    assert code == 0, err2
    session = json.loads(exported)
    usage = session["usage"]
    # Calls the advisor received in full; one cut off by its deadline counts for neither side.
    served = [c for c in calls if c["status"] == 200]
    assert all(c["usage"] for c in served), "the server reported no usage for a call"
    if not served:
        print("  warning: no call finished within its turn (a busy machine): usage is 0 = 0")
    assert usage["calls"] == len(served)
    assert usage["prompt_tokens"] == sum(c["usage"]["prompt_tokens"] for c in served)
    assert usage["completion_tokens"] == sum(c["usage"]["completion_tokens"] for c in served)
    _within_caps(calls)
    _within_budget(own)
