"""Wires settings, model, store, retriever, ingester and answerer into one object."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from qa.answering import Answerer, make_answerer, verify_citations
from qa.chat import standalone_question
from qa.embedding import Embedder, SentenceTransformerEmbedder
from qa.errors import ArticleNotFound, CitationError, IndexEmpty, InvalidRequest
from qa.ingest import Ingester, Progress
from qa.retrieval import Mode, Retriever
from qa.settings import Settings
from qa.store import ChromaStore, connect
from qa.types import Answer, Article, ArticleInfo, Failure, Filters, IngestReport, ScoredChunk, Turn

log = logging.getLogger(__name__)


class _ChangedMeanwhile(Exception):
    """The article was replaced after its passages were retrieved."""


class Service:
    """The library's front door: what the CLI, the API and the eval harness call."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        answerer: Answerer | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or SentenceTransformerEmbedder(
            settings.embed_model, settings.embed_precision, settings.embed_batch_size
        )
        self._client, self._lock = connect(settings)
        try:
            self.store = ChromaStore(
                self._client, settings.embed_model, self.embedder.dim, settings.collection_prefix
            )
            if self._lock is not None:  # sole owner: safe to clear what a crash left behind
                self.store.repair()
            self.retriever = Retriever(self.store, self.embedder, settings.sync_interval_s)
        except BaseException:
            self.close()
            raise
        self.ingester = Ingester(
            self.store,
            self.embedder,
            chunk_tokens=settings.chunk_tokens,
            max_article_bytes=int(settings.max_article_mb * 1_000_000),
        )
        self._answerer = answerer
        self._write_lock = threading.Lock()
        self._texts: dict[tuple[str, str], str] = {}

    @property
    def answerer(self) -> Answerer:
        """The configured answerer, made on first use (ingest-only runs never need it)."""
        if self._answerer is None:
            self._answerer = make_answerer(self.settings)
        return self._answerer

    @answerer.setter
    def answerer(self, value: Answerer) -> None:
        self._answerer = value

    # --- articles ----------------------------------------------------------------------

    def ingest(
        self, paths: Iterable[Path], prune: bool = False, progress: Progress | None = None
    ) -> IngestReport:
        with self._write_lock:
            report = self.ingester.ingest_paths(paths, prune=prune, progress=progress)
        self.retriever.mark_stale()
        return report

    def add_articles(self, items: Iterable[Article | Failure]) -> IngestReport:
        with self._write_lock:
            report = self.ingester.ingest_articles(items)
        self.retriever.mark_stale()
        return report

    def remove(self, article_id: str) -> None:
        self.store.article(article_id)  # raises ArticleNotFound with a helpful message
        with self._write_lock:
            self.store.delete([article_id])
        self.retriever.mark_stale()

    def articles(self) -> list[ArticleInfo]:
        return sorted(self.retriever.refresh().articles.values(), key=lambda a: a.id)

    def article(self, article_id: str) -> tuple[ArticleInfo, str]:
        return self.store.article(article_id)

    def counts(self) -> dict[str, int]:
        snap = self.retriever.refresh()
        return {"articles": len(snap.articles), "chunks": len(snap.lexical.entries)}

    # --- questions ---------------------------------------------------------------------

    def search(
        self,
        query: str,
        top_k: int | None = None,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
    ) -> list[ScoredChunk]:
        return self.retriever.search(query, top_k or self.settings.top_k, filters, mode)

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        top_k: int | None = None,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
    ) -> Answer:
        """Answers a question (a follow-up when history is given) with verified citations."""
        question = question.strip()
        if not question:
            raise InvalidRequest("the question is empty")
        if len(question) > self.settings.max_question_chars:
            raise InvalidRequest(
                f"the question has {len(question)} characters; the limit is "
                f"{self.settings.max_question_chars}"
            )
        if not self.retriever.refresh().articles:
            raise IndexEmpty(
                "no articles are indexed yet; add some with `qa ingest PATH` or POST /v1/articles"
            )
        for attempt in range(1, 5):
            try:
                return self._ask_once(question, history, top_k, filters, mode)
            except _ChangedMeanwhile as changed:
                # An article was replaced between retrieval and the citation check: ask again
                # over the new version rather than quote text that is no longer there.
                log.info("%s changed while answering; asking again (%d)", changed, attempt)
                self.retriever.mark_stale()
        raise CitationError("the cited articles kept changing while answering; ask again")

    def _ask_once(
        self,
        question: str,
        history: Sequence[Turn],
        top_k: int | None,
        filters: Filters | None,
        mode: Mode,
    ) -> Answer:
        t0 = time.perf_counter()
        standalone = standalone_question(question, history)
        passages = self.search(standalone, top_k, filters, mode)
        t1 = time.perf_counter()
        draft = self.answerer.answer(standalone, passages, self.retriever.snapshot.lexical.idf)
        versions = {p.chunk.article_id: p.version for p in passages}
        answer = Answer(
            question=question,
            standalone_question=standalone,
            answer=draft.answer,
            short_answer=draft.short_answer,
            answered=draft.answered,
            confidence=draft.confidence,
            citations=draft.citations,
        )
        verify_citations(answer, lambda article_id: self._text(article_id, versions[article_id]))
        t2 = time.perf_counter()
        timings = {
            "retrieve": (t1 - t0) * 1000,
            "answer": (t2 - t1) * 1000,
            "total": (t2 - t0) * 1000,
        }
        return replace(answer, timings_ms=timings)

    def _text(self, article_id: str, version: str) -> str:
        """The text of exactly the article version the passages came from."""
        text = self._texts.get((article_id, version))
        if text is None:
            try:
                info, text = self.store.article(article_id)
            except ArticleNotFound:
                raise _ChangedMeanwhile(article_id) from None  # deleted since it was retrieved
            if info.version != version:
                raise _ChangedMeanwhile(article_id)
            self._texts[(article_id, version)] = text
            while len(self._texts) > 256:
                self._texts.pop(next(iter(self._texts)))
        return text

    def close(self) -> None:
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            lock.release()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
