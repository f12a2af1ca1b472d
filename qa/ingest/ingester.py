"""Indexing: files and feeds -> Articles -> chunks -> vectors -> Chroma, idempotently."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from qa.index.embedding import Embedder
from qa.index.store import ChromaStore
from qa.ingest.articles import iter_files, read_path
from qa.ingest.chunking import chunk_article
from qa.quotes import article_quotes, encode
from qa.types import Article, ArticleInfo, Chunk, Failure, IngestReport

log = logging.getLogger(__name__)

Progress = Callable[[int], None]  # called with how many more articles were handled


def version_of(article: Article) -> str:
    """A content hash of everything stored for the article: same hash, nothing to do."""
    payload = json.dumps(
        [article.id, article.title, article.text, article.source, article.date, article.url],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class Ingester:
    """Chunks, embeds and stores articles in batches, skipping what is unchanged."""

    def __init__(
        self,
        store: ChromaStore,
        embedder: Embedder,
        chunk_tokens: int = 0,
        max_article_bytes: int = 5_000_000,
        batch_articles: int = 128,
    ) -> None:
        if chunk_tokens < 0:
            raise ValueError(f"chunk_tokens must be >= 0, got {chunk_tokens}")
        if chunk_tokens > embedder.max_tokens:
            raise ValueError(
                f"chunk_tokens must be <= the model window ({embedder.max_tokens}), "
                f"got {chunk_tokens}"
            )
        self._store = store
        self._embedder = embedder
        self._chunk_tokens = chunk_tokens or embedder.max_tokens
        self._max_bytes = max_article_bytes
        self._batch = batch_articles

    def estimate(self, paths: Iterable[Path]) -> int:
        """How many articles the paths hold, roughly (feed lines count one each), for progress."""
        total = 0
        for file, _ in iter_files(paths):
            if file.suffix.lower() == ".jsonl":
                try:
                    with file.open("rb") as fh:
                        total += sum(1 for line in fh if line.strip())
                except OSError:
                    total += 1
            else:
                total += 1
        return total

    def ingest_paths(
        self, paths: Iterable[Path], prune: bool = False, progress: Progress | None = None
    ) -> IngestReport:
        """Ingests files and folders recursively; prune drops articles whose file is gone."""
        paths = [Path(p) for p in paths]
        report = IngestReport()
        started = time.perf_counter()
        missing = [p for p in paths if not p.exists()]
        for p in missing:
            report.failures.append(Failure(str(p), "no such file or folder"))
        found = [p for p in paths if p.exists()]

        def parsed() -> Iterator[Article | Failure]:
            for file, root in iter_files(found):
                yield from read_path(file, root, self._max_bytes)

        seen = self._ingest(parsed(), report, progress)
        if prune:
            roots = [p.resolve() for p in found if p.is_dir()]
            gone = [
                info.id
                for info in self._store.manifest().values()
                if info.id not in seen and _under(info, roots)
            ]
            self._store.delete(gone)
            report.removed = len(gone)
        report.seconds = time.perf_counter() - started
        return report

    def ingest_articles(
        self,
        articles: Iterable[Article | Failure],
        progress: Progress | None = None,
        seen: dict[str, str] | None = None,
    ) -> IngestReport:
        """Ingests already-parsed articles (from the API or a feed); `seen` (id -> where)
        carries the ids of earlier batches of the same upload, so a repeated id is reported."""
        report = IngestReport()
        started = time.perf_counter()
        self._ingest(articles, report, progress, seen)
        report.seconds = time.perf_counter() - started
        return report

    def _ingest(
        self,
        items: Iterable[Article | Failure],
        report: IngestReport,
        progress: Progress | None,
        seen: dict[str, str] | None = None,
    ) -> set[str]:
        known = self._store.manifest()
        seen = {} if seen is None else seen
        pending: list[tuple[Article, str]] = []
        writer = _Writer(self._store, set(known))
        try:
            for item in items:
                if progress:
                    progress(1)
                todo = _triage(item, known, seen, report)
                if todo is not None:
                    pending.append(todo)
                if len(pending) >= self._batch:
                    report.chunks += self._flush(pending, writer)
                    pending = []
            report.chunks += self._flush(pending, writer)
        finally:
            writer.wait()
        return set(seen)

    def _flush(self, pending: list[tuple[Article, str]], writer: _Writer) -> int:
        if not pending:
            return 0
        chunked = [
            chunk_article(
                a.id,
                a.text,
                self._chunk_tokens,
                self._embedder.count_tokens,
                self._embedder.token_ends,
            )
            for a, _ in pending
        ]
        vectors = self._embedder.embed_documents([c.text for cs in chunked for c in cs])
        items, at = [], 0
        for (article, version), chunks in zip(pending, chunked, strict=True):
            items.append((article, version, chunks, vectors[at : at + len(chunks)]))
            at += len(chunks)
        writer.put(items)
        return at


class _Writer:
    """Writes batches to the store on one background thread, in order, while the next batch is
    embedded; at most one batch waits, and a failed write is raised on the next call."""

    def __init__(self, store: ChromaStore, known: set[str]) -> None:
        self._store = store
        self._known = known
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-writer")
        self._pending: Future[None] | None = None

    def put(self, items: list[tuple[Article, str, list[Chunk], np.ndarray]]) -> None:
        self.wait(shutdown=False)
        self._pending = self._pool.submit(self._write, items)

    def _write(self, items: list[tuple[Article, str, list[Chunk], np.ndarray]]) -> None:
        started = time.perf_counter()
        # Who said what, found here, beside the next batch's embedding, and stored with the
        # article record.
        quotes = {
            a.id: encode(article_quotes([(c.n, c.start, c.text) for c in chunks]))
            for a, _, chunks, _ in items
        }
        self._store.put(
            items, replacing=[a.id for a, *_ in items if a.id in self._known], quotes=quotes
        )
        log.info(
            "stored %d articles (%d chunks) in %.0f ms",
            len(items),
            sum(len(c) for _, _, c, _ in items),
            (time.perf_counter() - started) * 1000,
        )

    def wait(self, shutdown: bool = True) -> None:
        pending, self._pending = self._pending, None
        try:
            if pending is not None:
                pending.result()
        finally:
            if shutdown:
                self._pool.shutdown(wait=True)


def _triage(
    item: Article | Failure,
    known: dict[str, ArticleInfo],
    seen: dict[str, str],
    report: IngestReport,
) -> tuple[Article, str] | None:
    """Counts the item and returns (article, version) when it has to be written."""
    if isinstance(item, Failure):
        report.failures.append(item)
        log.warning("skipped %s: %s", item.where, item.reason)
        return None
    where = item.path or item.id
    if item.id in seen:
        reason = f"duplicate id {item.id!r} (also from {seen[item.id]}); rename one of them"
        report.failures.append(Failure(where, reason))
        return None
    seen[item.id] = where
    version = version_of(item)
    old = known.get(item.id)
    if old is not None and old.version == version:
        report.unchanged += 1
        return None
    if old is None:
        report.added += 1
    else:
        report.updated += 1
    return item, version


def _under(info: ArticleInfo, roots: list[Path]) -> bool:
    if not info.path:
        return False
    file = Path(
        info.path.rsplit(":", 1)[0]
        if info.path.endswith(tuple("0123456789")) and ".jsonl:" in info.path
        else info.path
    ).resolve()
    return any(file.is_relative_to(root) for root in roots)
