"""Long uploads as background jobs: ingested a batch at a time on one thread, with progress,
so an upload of thousands of articles neither holds the request open nor the write lock."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from api.library import Library
from qa.types import Article, Failure

log = logging.getLogger(__name__)

Status = Literal["queued", "running", "done", "failed", "cancelled"]
KEEP = 200  # finished jobs remembered for their status URL


class _Stopping(Exception):
    """The server is shutting down; the job stops after the batch it was writing."""


@dataclass
class Job:
    """One upload's progress, as GET /v1/jobs/{id} shows it."""

    id: str
    total: int
    failures: list[Failure]
    status: Status = "queued"
    done: int = 0
    report: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "total": self.total,
            "done": self.done,
            "status_url": f"/v1/jobs/{self.id}",
            "report": self.report,
            "error": self.error,
            "failures": [{"where": f.where, "reason": f.reason} for f in self.failures],
        }


class Jobs:
    """Runs uploads one after another on a single thread (writes are serial anyway)."""

    def __init__(self, service: Library, batch: int = 32) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self._service = service
        self._batch = batch
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-upload")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def submit(self, articles: list[Article], failures: list[Failure]) -> Job:
        job = Job(uuid.uuid4().hex, total=len(articles), failures=failures)
        with self._lock:
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.status not in ("queued", "running")]
            for old in finished[: max(0, len(self._jobs) - KEEP)]:
                del self._jobs[old.id]
        self._pool.submit(self._run, job, articles)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _run(self, job: Job, articles: list[Article]) -> None:
        if self._stopping.is_set():
            job.status = "cancelled"
            return
        job.status = "running"

        def advance(n: int) -> None:
            job.done += n
            if self._stopping.is_set() and job.done < job.total:
                raise _Stopping

        try:
            report = self._service.add_articles(articles, progress=advance, batch=self._batch)
        except _Stopping:
            job.status, job.error = "cancelled", "the server stopped; upload the rest again"
            return
        except Exception as exc:  # reported on the status URL; the server goes on
            log.exception("upload job %s failed", job.id)
            job.status, job.error = "failed", str(exc)
            return
        report.failures[:0] = job.failures
        job.report = {**report.to_dict(), "articles": [a.id for a in articles]}
        job.status = "done"

    def close(self) -> None:
        """Stops after the batch being written; queued jobs are cancelled."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
