"""Load on a real `qa serve` over loopback: RPS and latency for N concurrent clients.

    python -m eval.bench.load [--data-dir DIR] [--clients 8] [--seconds 20] [--max-requests 3000]

Bounded in time and count, loopback only. The baseline, measured against the same server in the
same run, is GET /healthz: the ratio says how much of the server's capacity an answer takes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from eval.bench.common import ROOT, bench_index, questions


async def _load(
    url: str, clients: int, seconds: float, max_requests: int, make: object
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client(i: int) -> None:
        nonlocal errors, sent
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            while time.perf_counter() < deadline and sent < max_requests:
                n = sent
                sent += 1
                t = time.perf_counter()
                try:
                    response = await make(http, n)  # type: ignore[operator]
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - t) * 1000)
                errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, errors, time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--max-requests", type=int, default=3000)
    args = parser.parse_args(argv)
    with bench_index(args.data_dir) as data_dir:
        asked = questions()
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "QA_DATA_DIR": str(data_dir), "QA_PORT": str(port)}
        server = subprocess.Popen(
            [sys.executable, "-m", "qa.cli", "serve"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            for q in asked[:20]:  # warm up
                httpx.post(f"{url}/v1/ask", json={"question": q}, timeout=30)

            async def ask(http: httpx.AsyncClient, n: int) -> httpx.Response:
                return await http.post("/v1/ask", json={"question": asked[n % len(asked)]})

            async def health(http: httpx.AsyncClient, n: int) -> httpx.Response:
                return await http.get("/healthz")

            rows = []
            for name, make in (("POST /v1/ask", ask), ("GET /healthz (baseline)", health)):
                lat, errors, took = asyncio.run(
                    _load(url, args.clients, args.seconds, args.max_requests, make)
                )
                rows.append(
                    (name, len(lat) / took, *np.percentile(lat, [50, 95, 99]), errors, len(lat))
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"{args.clients} concurrent clients, {args.seconds:.0f} s or {args.max_requests} "
        f"requests each run, loopback"
    )
    print(f"{'':<26}{'RPS':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}{'requests':>10}")
    for name, rps, p50, p95, p99, errors, n in rows:
        print(f"{name:<26}{rps:>8.1f}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}{errors:>8}{n:>10}")
    print(f"\nask RPS / healthz RPS: {rows[0][1] / rows[1][1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
