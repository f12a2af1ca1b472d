"""Real servers for tests: `chroma run` and `qa serve` on free loopback ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from .conftest import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = log.read_text(errors="replace")
            raise RuntimeError(f"server exited with {proc.returncode}:\n{out[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up in {timeout} s")


@contextmanager
def _running(cmd: list[str], url: str, env: dict[str, str] | None = None) -> Iterator[None]:
    # Output goes to a file: an unread pipe fills up and stalls the server.
    with tempfile.NamedTemporaryFile(prefix="server-", suffix=".log", delete=False) as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_up(url, proc, Path(log.name))
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def chroma_server(path: Path) -> Iterator[str]:
    """A real Chroma server (`chroma run`) persisting under path; yields its URL."""
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    url = f"http://127.0.0.1:{port}"
    cmd = [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    with _running(cmd, f"{url}/api/v2/heartbeat"):
        yield url


@contextmanager
def qa_server(env_overrides: dict[str, str]) -> Iterator[str]:
    """A real `qa serve` (uvicorn) process; yields its base URL."""
    port = free_port()
    env = {**os.environ, "QA_PORT": str(port), "QA_HOST": "127.0.0.1", **env_overrides}
    url = f"http://127.0.0.1:{port}"
    with _running([sys.executable, "-m", "qa.cli", "serve"], f"{url}/healthz", env=env):
        yield url


@contextmanager
def llm_server() -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server (`qa serve-llm`) serving the packaged SmolLM2 GGUF
    on a free port; yields its /v1 URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "qa.cli", "serve-llm", "--port", str(port)]
    with _running(cmd, f"{url}/v1/models"):
        yield f"{url}/v1"
