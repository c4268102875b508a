"""`advisor mcp` as a host runs it: a real stdio subprocess, and streamable HTTP on 127.0.0.1."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from agent.article.source import QuoteChecker, load_article
from test_schemas import validator

ROOT = Path(__file__).resolve().parents[1]
WIKI = "We want a bot that answers questions from our internal wiki, which changes every day."
pytestmark = pytest.mark.slow


async def exercise(client: Client) -> dict:
    """Initialize (done by the client), list, call every tool, and send bad arguments."""
    tools = {t.name for t in (await client.list_tools()).tools}
    rec = await client.call_tool("recommend", {"description": WIKI})
    search = await client.call_tool("search_article", {"query": "how dynamic is the data?", "k": 3})
    explain = await client.call_tool("explain", {"section_id": "other-aspects.latency"})
    first = await client.call_tool("interview_step", {"answer": "We need an internal assistant for HR questions"})
    nxt = await client.call_tool("interview_step", {"state": first.structured_content["state"], "answer": "yes"})
    bad = [await client.call_tool("search_article", {"query": "rag", "k": 0}),
           await client.call_tool("recommend", {"description": ""}),
           await client.call_tool("explain", {"section_id": "nope"}),
           await client.call_tool("interview_step", {"state": "iv1.forged.mac", "answer": "yes"})]
    resources = (await client.list_resources()).resources
    section = await client.read_resource("article://sections/considerations.transparency")
    return {"tools": tools, "rec": rec, "search": search, "explain": explain, "first": first, "next": nxt,
            "bad": bad, "resources": resources, "section": section, "protocol": client.protocol_version}


def check(got: dict) -> None:
    assert got["tools"] == {"recommend", "interview_step", "search_article", "explain"}
    rec = got["rec"].structured_content
    validator("recommendation.v1.json").validate(rec)
    checker = QuoteChecker(load_article())
    assert all(checker.is_verbatim(c["quote"], c["section_id"]) for c in rec["citations"])
    validator("search-response.v1.json").validate(got["search"].structured_content)
    validator("section.v1.json").validate(got["explain"].structured_content)
    for step in (got["first"], got["next"]):
        validator("interview-step.v1.json").validate(step.structured_content)
    assert got["first"].structured_content["kind"] == "question"
    for result in got["bad"]:
        assert result.is_error
        text = result.content[0].text
        assert text.startswith("error: ") and "\n" not in text and "Traceback" not in text
    assert len([r for r in got["resources"] if str(r.uri).startswith("article://sections/")]) == len(load_article().sections)
    assert "transparency" in got["section"].contents[0].text


def child_env(home: Path) -> dict[str, str]:
    return {"ADVISOR_HOME": str(home), "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_stdio_subprocess(clean_env, tmp_path, mode):
    params = StdioServerParameters(command=sys.executable, args=["-m", "agent.fronts.cli.main", "mcp"],
                                   env=child_env(clean_env), cwd=str(ROOT))
    errlog = open(tmp_path / "server.err", "w")

    async def main():
        with anyio.fail_after(120):
            async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:
                return await exercise(client)
    try:
        got = anyio.run(main)
    finally:
        errlog.close()
    check(got)
    assert got["protocol"] == ("2026-07-28" if mode == "auto" else "2025-11-25")
    assert "Traceback" not in (tmp_path / "server.err").read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not listen in time")


def test_streamable_http_on_loopback(clean_env, tmp_path):
    port = free_port()
    env = {**os.environ, **child_env(clean_env)}
    with open(tmp_path / "server.err", "wb") as errlog:
        proc = subprocess.Popen([sys.executable, "-m", "agent.fronts.cli.main", "mcp", "--http", "--port", str(port)],
                                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errlog)
        try:
            wait_for_port(port, proc, time.monotonic() + 90)

            async def main():
                with anyio.fail_after(120):
                    async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                        return await exercise(client)
            check(anyio.run(main))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
    assert "Traceback" not in (tmp_path / "server.err").read_text()


def test_http_listens_on_loopback_only_by_default(clean_env):
    proc = subprocess.run([sys.executable, "-m", "agent.fronts.cli.main", "mcp", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0 and "127.0.0.1" in proc.stdout


@pytest.mark.parametrize("args, expect", [(("--port", "0"), "--port"), (("--frob",), "No such option")])
def test_bad_flags_are_one_line(clean_env, args, expect):
    proc = subprocess.run([sys.executable, "-m", "agent.fronts.cli.main", "mcp", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and expect in lines[0] and "Traceback" not in proc.stderr
