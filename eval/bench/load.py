"""Load on a real `qa serve` over loopback: RPS and latency for N concurrent clients.

    python -m eval.bench.load [--data-dir DIR] [--clients 8] [--seconds 20] [--max-requests 3000]
                              [--ingest 200] [--upload 200] [--workers 2]

Bounded in time and count, loopback only. The baseline, measured against the same server in the
same run, is GET /healthz: the ratio says how much of the server's capacity an answer takes.

With `--ingest N`, the clients ask again while `qa ingest` indexes N BBC articles into another
index in a process of its own (what a newsroom machine does while people ask), once with the
ingest's priority as configured (QA_INGEST_NICE) and once with it unchanged, each from when the
ingest's model is loaded until it ends or `--seconds` pass; one more client probes GET
/healthz every 50 ms meanwhile. The ratios to the idle run's median are the figures.

With `--workers N`, the server is N uvicorn processes over a real Chroma server (`chroma run`
on a copy of the index's Chroma folder), the way `qa serve --workers N` scales past one
process's interpreter; without it, one process over the embedded index, as `qa serve` runs.

With `--upload N`, they ask again while the same server indexes an upload of N BBC articles
(POST /v1/articles, a .jsonl feed under new ids, run as a background job), from when the job is
accepted until it is done or `--seconds` pass; the uploaded articles are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import numpy as np

from eval.bench.common import BBC, ROOT, bench_index, questions
from qa.settings import Settings


async def _load(
    url: str,
    clients: int,
    seconds: float,
    max_requests: int,
    make: object,
    ended: Callable[[], bool] = lambda: False,
    probes: list[float] | None = None,
) -> tuple[list[float], int, float]:
    """Each client's requests in turn until `seconds` pass, `max_requests` are sent or
    `ended()`: the latencies (ms), errors and seconds taken. With `probes`, one more client
    GETs /healthz every 50 ms meanwhile and appends its latencies there."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + seconds

    def going() -> bool:
        return time.perf_counter() < deadline and sent < max_requests and not ended()

    async def probe() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            while going():
                t = time.perf_counter()
                response = await http.get("/healthz")
                probes.append((time.perf_counter() - t) * 1000)  # type: ignore[union-attr]
                if response.status_code != 200:
                    raise SystemExit(f"/healthz answered {response.status_code}")
                await asyncio.sleep(0.05)

    async def client(i: int) -> None:
        nonlocal errors, sent
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            while going():
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
    probing = [probe()] if probes is not None else []
    await asyncio.gather(*(client(i) for i in range(clients)), *probing)
    return latencies, errors, time.perf_counter() - started


@contextmanager
def _ingesting(files: int, nice: str) -> Iterator[subprocess.Popen[bytes]]:
    """A `qa ingest` of the first `files` BBC articles into a temporary index, in a process of
    its own (QA_INGEST_NICE=nice), returned once its model is loaded, so that what runs beside
    it runs beside the ingest's work."""
    from eval.bench.ingest import _files, _stage

    with tempfile.TemporaryDirectory() as tmp:
        folder = _stage(Path(tmp) / "articles", _files(BBC, files), BBC)
        env = {**os.environ, "QA_DATA_DIR": str(Path(tmp) / "data"), "QA_INGEST_NICE": nice}
        proc = subprocess.Popen(
            [sys.executable, "-m", "qa.cli", "-v", "ingest", str(folder)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            assert proc.stderr is not None
            for line in proc.stderr:  # the embedder logs when its model is loaded
                if b"qa.index.embedding: loaded" in line:
                    break
            else:
                raise SystemExit(f"qa ingest exited with {proc.wait()} before loading its model")
            # Keep reading, so a full pipe never stalls the ingest.
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            yield proc
        finally:
            proc.kill()
            proc.wait(timeout=30)


def _feed(files: int) -> bytes:
    """The first `files` BBC articles as a .jsonl feed, under ids no index of them holds."""
    from eval.bench.ingest import _files
    from qa.ingest.articles import decode

    lines = []
    for n, path in enumerate(_files(BBC, files)):
        title, _, text = decode(path.read_bytes()).strip().partition("\n")
        lines.append(json.dumps({"id": f"bench-upload-{n}", "title": title, "text": text}))
    return ("\n".join(lines) + "\n").encode()


@contextmanager
def _uploading(url: str, files: int) -> Iterator[Callable[[], bool]]:
    """An upload of `files` articles to the server, running as a job; yields whether it is
    done, and deletes the articles afterwards."""
    body = _feed(files)
    started = httpx.post(f"{url}/v1/articles", files={"file": ("bench.jsonl", body)}, timeout=120)
    if started.status_code != 202:
        raise SystemExit(f"the upload was answered {started.status_code}: {started.text[:200]}")
    status_url = f"{url}{started.json()['status_url']}"
    state = {"done": False, "at": 0.0}

    def done() -> bool:
        now = time.perf_counter()
        if not state["done"] and now - state["at"] > 0.5:  # poll twice a second at most
            state["at"] = now
            job = httpx.get(status_url, timeout=30).json()
            state["done"] = job["status"] not in ("queued", "running")
        return bool(state["done"])

    try:
        yield done
    finally:
        while not done():
            time.sleep(0.5)
        for n in range(files):
            httpx.delete(f"{url}/v1/articles/bench-upload-{n}", timeout=30)


@contextmanager
def _chroma_server(chroma: Path) -> Iterator[str]:
    """`chroma run` over a copy of an index's Chroma folder (the index itself is left as it
    was); yields its URL."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "chroma"
        shutil.copytree(chroma, copy)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        run = [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(copy)]
        proc = subprocess.Popen(
            [*run, "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_up(f"{url}/api/v2/heartbeat", proc, "chroma run")
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _wait_up(url: str, proc: subprocess.Popen, name: str) -> None:  # type: ignore[type-arg]
    """Until GET url answers 200, tried every 0.2 s 600 times; a process that exits fails."""
    for _ in range(600):
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with {proc.returncode}")
        time.sleep(0.2)
    raise SystemExit(f"{name} did not answer {url} in 600 tries")


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
    parser.add_argument(
        "--ingest",
        type=int,
        default=0,
        metavar="N",
        help="Also ask while `qa ingest` indexes N BBC articles in another process.",
    )
    parser.add_argument(
        "--upload",
        type=int,
        default=0,
        metavar="N",
        help="Also ask while the same server indexes an upload of N BBC articles.",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="Serve with N uvicorn processes over a Chroma server instead of one process.",
    )
    args = parser.parse_args(argv)
    with bench_index(args.data_dir) as data_dir, ExitStack() as stack:
        asked = questions()
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "QA_DATA_DIR": str(data_dir), "QA_PORT": str(port)}
        serve = [sys.executable, "-m", "qa.cli", "serve"]
        if args.workers > 1:
            env["QA_CHROMA_URL"] = stack.enter_context(_chroma_server(data_dir / "chroma"))
            env["QA_DATA_DIR"] = stack.enter_context(tempfile.TemporaryDirectory())
            serve += ["--workers", str(args.workers)]
        server = subprocess.Popen(
            serve,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_up(f"{url}/readyz", server, "qa serve")
            if args.workers > 1:
                time.sleep(5)  # /readyz answers once one worker is ready; let the others load
            for q in asked[: 20 * args.workers]:  # warm up
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
            beside = []

            def measure(label: str, ended: Callable[[], bool]) -> None:
                """The clients' asks until `ended()` (or the time is up), /healthz probed."""
                probes: list[float] = []
                lat, errors, took = asyncio.run(
                    _load(
                        url,
                        args.clients,
                        args.seconds,
                        args.max_requests,
                        ask,
                        ended=ended,
                        probes=probes,
                    )
                )
                p50, p95 = np.percentile(lat, [50, 95])
                health95 = float(np.percentile(probes, 95))
                row = (label, len(lat) / took, p50, p95, errors, health95, took, ended())
                beside.append(row)

            configured = os.environ.get("QA_INGEST_NICE") or str(
                Settings.model_fields["ingest_nice"].default
            )
            for nice in (configured, "0") if args.ingest else ():
                with _ingesting(args.ingest, nice) as ingest:
                    measure(
                        f"ingest {args.ingest}, nice {nice}",
                        lambda ingest=ingest: ingest.poll() is not None,  # type: ignore[misc]
                    )
            if args.upload:
                with _uploading(url, args.upload) as uploaded:
                    measure(f"upload of {args.upload} here", uploaded)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"{args.clients} concurrent clients, {args.seconds:.0f} s or {args.max_requests} "
        f"requests each run, loopback; "
        + (
            f"{args.workers} server processes over a Chroma server"
            if args.workers > 1
            else "one server process over the embedded index"
        )
    )
    print(f"{'':<26}{'RPS':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}{'requests':>10}")
    for name, rps, p50, p95, p99, errors, n in rows:
        print(f"{name:<26}{rps:>8.1f}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}{errors:>8}{n:>10}")
    print(f"\nask RPS / healthz RPS: {rows[0][1] / rows[1][1]:.2f}")
    if beside:
        idle_p50 = rows[0][2]
        print(
            "\nPOST /v1/ask while articles are indexed: by `qa ingest` in another process, "
            "or uploaded to this server"
        )
        print(
            f"{'':<26}{'RPS':>8}{'p50 ms':>9}{'x idle':>8}{'p95 ms':>9}{'errors':>8}"
            f"{'healthz p95':>13}{'seconds':>9}"
        )
        for label, rps, p50, p95, errors, health95, took, finished in beside:
            print(
                f"{label:<26}{rps:>8.1f}{p50:>9.1f}{p50 / idle_p50:>8.2f}{p95:>9.1f}{errors:>8}"
                f"{health95:>13.1f}{took:>9.1f}" + ("" if finished else "  (still indexing)")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
