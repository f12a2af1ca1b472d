"""Shared fixtures: the real embedding model once per session, a real Chroma per test."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

# Under pytest-xdist (`make test` runs a worker a core) each worker's models, and the servers it
# starts, take an even share of the cores: threads beyond the cores wait on each other at every
# layer of every forward pass.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _SHARE = str(max(1, len(os.sched_getaffinity(0)) // _WORKERS))
    os.environ.setdefault("QA_THREADS", _SHARE)
    os.environ.setdefault("OMP_NUM_THREADS", _SHARE)
# `qa ingest` lowers its process's priority; tests invoke it inside the test process, which
# must keep its own (the test of that runs the command in a process of its own).
os.environ.setdefault("QA_INGEST_NICE", "0")

from qa.index.embedding import SentenceTransformerEmbedder, set_threads  # noqa: E402
from qa.service import Service  # noqa: E402
from qa.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "articles"
SEEDS = ROOT / "seeds"
SHARED_DATA = Path(os.environ.get("QA_SHARED_DATA", ROOT.parent / "shared" / "data"))

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else None
    inet = self.family in (socket.AF_INET, socket.AF_INET6)
    if (
        inet
        and host is not None
        and not (str(host).startswith("127.") or host in ("::1", "localhost"))
    ):
        raise OSError(f"tests may not reach the network ({host})")
    return _real_connect(self, address)  # type: ignore[arg-type]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under several workers, the order xdist's worksteal scheduler hands out best: it gives
    each worker a contiguous share of the list and later moves tests from the end of a busy
    worker's share to an idle one. So each share starts with its part of the suites over the
    public data (minutes each, dealt out in turn), then of the other slow ones, then the quick
    ones: begun last, a long suite would leave one worker running it alone on its share of the
    cores."""
    if _WORKERS <= 1:
        return

    def weight(item: pytest.Item) -> int:
        slow = item.get_closest_marker("slow") is not None
        return 0 if slow and item.path.name == "test_public_data.py" else 1 if slow else 2

    shares: list[list[pytest.Item]] = [[] for _ in range(_WORKERS)]
    for kind in (0, 1):
        for n, item in enumerate(i for i in items if weight(i) == kind):
            shares[n % _WORKERS].append(item)
    quick = [i for i in items if weight(i) == 2]
    left = len(items)
    for k, share in enumerate(shares):
        size = left // (_WORKERS - k)  # how worksteal sizes the k-th share
        left -= size
        take = max(0, size - len(share))
        share += quick[:take]
        quick = quick[take:]
    shares[-1] += quick
    items[:] = [item for share in shares for item in share]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything must work offline: any connection off this machine fails the test."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    set_threads(int(os.environ.get("QA_THREADS", "0")))
    return SentenceTransformerEmbedder()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", sync_interval_s=0, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def service(settings: Settings, embedder: SentenceTransformerEmbedder) -> Iterator[Service]:
    with Service(settings, embedder=embedder) as svc:
        yield svc


@pytest.fixture
def indexed(service: Service) -> Service:
    """A service over the fixture articles and the seed article."""
    report = service.ingest([FIXTURES, SEEDS])
    assert not report.failures, report.failures
    return service


def shared_data(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"public data {path} is not present")
    return path


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing; .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return found
