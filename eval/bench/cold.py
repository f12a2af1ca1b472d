"""Cold start: fresh processes from the shell to the first answer and to a ready server.

    python -m eval.bench.cold [--runs 5] [--data-dir DIR]

Three kinds of fresh process, run in turn `--runs` times each so a noisy moment hits all
three alike, over an index of seeds/ (built first in a temporary folder unless given):

- baseline: a bare Python that imports sentence-transformers, loads the embedding model and
  embeds one sentence, the least any answer needs;
- `qa ask "<question>"` until it exits, the answer printed;
- `qa serve` until GET /healthz answers 200 (then it is stopped).

Prints the median and spread of each and the medians' ratios to the baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Who denied awareness of the airstrikes?"
BASELINE = """
from sentence_transformers import SentenceTransformer
from qa.settings import Settings
from qa.index.embedding import resolve_model
model = SentenceTransformer(resolve_model(Settings().embed_model), device="cpu")
model.encode(["Who denied awareness of the airstrikes?"])
"""


def _qa() -> list[str]:
    found = shutil.which("qa", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "qa.cli"]


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_ready(env: dict[str, str], timeout: float = 120.0) -> float:
    port = _free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*_qa(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - started < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.02)
            if proc.poll() is not None:
                raise SystemExit(f"qa serve exited with {proc.returncode}")
        raise SystemExit(f"qa serve was not ready in {timeout:.0f} s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, help="An index to use (default: seeds/, built)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "QA_DATA_DIR": str(data_dir)}
        if args.data_dir is None:
            subprocess.run([*_qa(), "ingest", str(ROOT / "seeds")], env=env, check=True)
        times: dict[str, list[float]] = {"baseline": [], "qa ask": [], "qa serve ready": []}
        for n in range(args.runs):
            times["baseline"].append(_timed([sys.executable, "-c", BASELINE], env))
            times["qa ask"].append(_timed([*_qa(), "ask", QUESTION], env))
            times["qa serve ready"].append(_serve_ready(env))
            print(
                f"run {n + 1}/{args.runs}: "
                + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
                file=sys.stderr,
            )
    base = statistics.median(times["baseline"])
    print(f"{'process':<16} {'median s':>9} {'min-max s':>13} {'ratio':>6}")
    for name, values in times.items():
        median = statistics.median(values)
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"{name:<16} {median:>9.2f} {spread:>13} {median / base:>5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
