"""Round-trip times of `advisor mcp` over stdio and streamable HTTP (127.0.0.1), as a host sees them.

    .venv/bin/python scripts/bench_mcp.py [--calls N]

Starts the real server as a subprocess, times start-up to a completed initialize, then N calls of
each tool (recommend, search_article, explain, interview_step), and prints medians and p95s.
Bounded: every phase runs under a time limit and the server is stopped at the end.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = Path(__file__).resolve().parents[1]
CALLS = {
    "recommend": {"description": "We want a bot that answers questions from our internal wiki, which changes every day."},
    "search_article": {"query": "how dynamic is the data?", "k": 5},
    "explain": {"section_id": "considerations.external-knowledge"},
    "interview_step": {"answer": "We need an internal assistant for HR questions"},
}


async def timed_session(make_client, n: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"initialize": []}
    with anyio.fail_after(300):
        t0 = time.perf_counter()
        async with make_client() as client:
            times["initialize"].append(time.perf_counter() - t0)
            await client.list_tools()
            for name, args in CALLS.items():
                times[name] = []
                for _ in range(n):
                    t = time.perf_counter()
                    result = await client.call_tool(name, args)
                    times[name].append(time.perf_counter() - t)
                    assert not result.is_error, result.content
    return times


def report(label: str, times: dict[str, list[float]]) -> None:
    for name, xs in times.items():
        xs = sorted(xs)
        p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
        print(f"{label:6} {name:15} median {1000 * statistics.median(xs):8.1f} ms   p95 {1000 * p95:8.1f} ms   (n={len(xs)})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="calls per tool (default 20)")
    args = parser.parse_args()
    home = os.environ.get("ADVISOR_HOME") or tempfile.mkdtemp(prefix="advisor-bench-")
    env = {"ADVISOR_HOME": home, "PYTHONPATH": str(ROOT)}

    params = StdioServerParameters(command=sys.executable, args=["-m", "agent.fronts.cli.main", "mcp"], env=env, cwd=str(ROOT))
    with open(os.devnull, "w") as devnull:
        report("stdio", anyio.run(timed_session, lambda: Client(stdio_client(params, errlog=devnull)), args.calls))

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "agent.fronts.cli.main", "mcp", "--http", "--port", str(port)], cwd=ROOT,
                            env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        t0 = time.perf_counter()
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 120:
                    raise SystemExit("the HTTP server did not start")
                time.sleep(0.05)
        print(f"http   {'listening':15} after  {1000 * (time.perf_counter() - t0):8.1f} ms (process start to open port)")
        report("http", anyio.run(timed_session, lambda: Client(f"http://127.0.0.1:{port}/mcp"), args.calls))
    finally:
        proc.terminate()
        proc.wait(timeout=15)


if __name__ == "__main__":
    main()
