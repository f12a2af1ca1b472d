"""Wires settings, model, store, retriever, ingester and answerer into one object."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from qa.answer.base import Answerer, Draft
from qa.answer.citations import MARKER, Segments, unmarked, verify_citations
from qa.answer.claims import verify_claims
from qa.answer.decisions import clip
from qa.chat import standalone_question
from qa.dates import TimeFrame, time_frame
from qa.errors import ArticleNotFound, IndexEmpty, InvalidRequest
from qa.index.embedding import Embedder, SentenceTransformerEmbedder
from qa.index.retriever import Mode, Retriever
from qa.index.store import ChromaStore, connect
from qa.ingest.ingester import Ingester, Progress
from qa.quotes import Quote, find_quotes, speaks
from qa.settings import Settings
from qa.types import (
    Answer,
    Article,
    ArticleInfo,
    Chunk,
    Citation,
    Copy,
    Failure,
    Filters,
    IngestReport,
    ScoredChunk,
    Turn,
)

log = logging.getLogger(__name__)


class _FairLock:
    """A lock handed over in arrival order: a long upload that takes it batch after batch cannot
    starve a writer that came meanwhile (a plain Lock is usually taken back by the releaser)."""

    def __init__(self) -> None:
        self._turns = threading.Condition()
        self._queue: deque[object] = deque()
        self._held = False

    def __enter__(self) -> None:
        me = object()
        with self._turns:
            self._queue.append(me)
            while self._held or self._queue[0] is not me:
                self._turns.wait()
            self._queue.popleft()
            self._held = True

    def __exit__(self, *exc: object) -> None:
        with self._turns:
            self._held = False
            self._turns.notify_all()


class Service:
    """The library's front door: what the CLI, the API and the eval harness call."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        answerer: Answerer | None = None,
    ) -> None:
        self.settings = settings
        # The index first: a data dir another process owns is refused before the model loads.
        self._client, self._lock = connect(settings)
        try:
            self.embedder = embedder or SentenceTransformerEmbedder(
                settings.embed_model, settings.embed_precision, settings.embed_batch_size
            )
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
            batch_articles=settings.ingest_batch_articles,
        )
        self._answerer = answerer
        self._write_lock = _FairLock()
        self._texts: dict[tuple[str, str], str] = {}
        # (article id, version) -> its quotes, and the chunk numbers of find_quotes' pieces
        self._quotes: dict[tuple[str, str], tuple[list[Quote], list[int]]] = {}

    @property
    def answerer(self) -> Answerer:
        """The configured answerer, made on first use (ingest-only runs never need it)."""
        if self._answerer is None:
            self._answerer = make_answerer(self.settings)
        return self._answerer

    # --- articles ----------------------------------------------------------------------

    def ingest(
        self, paths: Iterable[Path], prune: bool = False, progress: Progress | None = None
    ) -> IngestReport:
        with self._write_lock:
            report = self.ingester.ingest_paths(paths, prune=prune, progress=progress)
        self.retriever.mark_stale()
        return report

    def add_articles(
        self,
        items: Iterable[Article | Failure],
        progress: Progress | None = None,
        batch: int | None = None,
    ) -> IngestReport:
        """Adds or replaces articles. With `batch`, the write lock is taken for one batch at a
        time, so a long upload lets other writers in between its batches; `progress` hears
        how many articles each written batch held."""
        items = list(items)
        size = batch or max(1, len(items))
        report, seen = IngestReport(), dict[str, str]()
        for at in range(0, len(items), size):
            part = items[at : at + size]
            with self._write_lock:
                report.merge(self.ingester.ingest_articles(part, seen=seen))
            self.retriever.mark_stale()
            if progress:
                progress(len(part))
        return report

    def remove(self, article_id: str) -> None:
        if not self.store.exists(article_id):
            raise ArticleNotFound(f"no article with id {article_id!r}; `qa articles` lists them")
        with self._write_lock:
            self.store.delete([article_id])
        self.retriever.mark_stale()

    def articles(self) -> list[ArticleInfo]:
        """Every article, with the ids of its copies (other articles carrying its story)."""
        snap = self.retriever.refresh()
        return [
            replace(info, copies=tuple(c for c in snap.groups[a] if c != a))
            if a in snap.groups
            else info
            for a, info in sorted(snap.articles.items())
        ]

    def article(self, article_id: str) -> tuple[ArticleInfo, str]:
        info, text = self.store.article(article_id)
        group = self.retriever.refresh().groups.get(article_id, ())
        return replace(info, copies=tuple(c for c in group if c != article_id)), text

    def quotes(self, speaker: str | None = None) -> list[tuple[Quote, ArticleInfo]]:
        """The quotes of every article (of `speaker` when given: every word of the name in the
        speaker's, "Toner" for Mark Toner), by article and then in article order; a quote's
        `piece` is the number of its chunk. Found once per article version, then kept."""
        snap = self.retriever.refresh()
        pieces: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
        for e in snap.lexical.entries:
            key = (e.chunk.article_id, e.version)
            if key not in self._quotes:
                pieces.setdefault(key, []).append((e.chunk.n, e.chunk.start, e.chunk.text))
        for key, parts in pieces.items():
            parts.sort()
            found = find_quotes((start, text) for _, start, text in parts)
            self._quotes[key] = (found, [n for n, _, _ in parts])
        current = {(a, i.version) for a, i in snap.articles.items()}
        for key in [k for k in self._quotes if k not in current]:
            self._quotes.pop(key, None)
        return [
            (_in_chunks(q, chunks), snap.articles[a])
            for (a, v) in sorted(current)
            for found, chunks in [self._quotes.get((a, v), ([], []))]
            for q in found
            if speaker is None or speaks(q, speaker)
        ]

    def counts(self) -> dict[str, int]:
        snap = self.retriever.refresh()
        return {"articles": len(snap.articles), "chunks": len(snap.lexical.entries)}

    # --- questions ---------------------------------------------------------------------

    def term_weight(self, term: str) -> float:
        """How informative a stemmed term is in the index (its BM25 idf), as of the snapshot
        the last search used, so one question is weighed against one index."""
        return self.retriever.idf(term)

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
        if len(history) > self.settings.max_history:
            raise InvalidRequest(
                f"history has {len(history)} turns; the limit is {self.settings.max_history}"
            )
        if not self.retriever.refresh().articles:
            raise IndexEmpty(
                "no articles are indexed yet; add some with `qa ingest PATH` or POST /v1/articles"
            )
        t0 = time.perf_counter()
        standalone = standalone_question(question, history)
        snap = self.retriever.refresh()
        frame = self._time_frame(standalone, filters, snap.articles)
        if frame is not None:
            filters = replace(filters or Filters(), date_from=frame.start, date_to=frame.end)
        passages = self._quoted(standalone, filters, mode) or self.search(
            standalone, top_k, filters, mode
        )
        t1 = time.perf_counter()
        draft = self.answerer.answer(standalone, passages, self.term_weight)
        if draft.answered and draft.citations and _WHO_SAID.match(standalone):
            draft = self._with_speaker(draft)
        citations = tuple(
            replace(c, also_in=_copies(c.article_id, snap.groups, snap.articles))
            for c in draft.citations
        )
        answer = Answer(
            question=question,
            standalone_question=standalone,
            answer=draft.answer,
            short_answer=draft.short_answer,
            answered=draft.answered,
            confidence=draft.confidence,
            citations=citations,
            answerer=draft.answerer,
            date_range=frame.to_dict() if frame else None,
        )
        verify_citations(answer, lambda article_id: self._segments(article_id, passages))
        if answer.answered:
            verify_claims(answer.answer, {c.n: c.quote for c in answer.citations}, standalone)
        t2 = time.perf_counter()
        timings = {
            "retrieve": (t1 - t0) * 1000,
            "answer": (t2 - t1) * 1000,
            "total": (t2 - t0) * 1000,
        }
        return replace(answer, timings_ms=timings)

    def _with_speaker(self, draft: Draft) -> Draft:
        """A "Who said '...'?" answer with its speaker as the short answer, and, when the quoting
        sentence names them only as "he" or by surname, the sentence that gives the full name
        cited first, so the answer itself says who."""
        first = draft.citations[0]
        quote = next(
            (q for q, i in self.quotes() if (i.id, q.start) == (first.article_id, first.start)),
            None,
        )
        if quote is None:
            return draft
        draft = replace(draft, short_answer=quote.speaker)
        if quote.named is None or quote.speaker in draft.answer:
            return draft
        start, end, sentence, n = quote.named
        naming = Citation(
            1,
            first.article_id,
            first.title,
            f"{first.article_id}:{n}",
            start,
            end,
            sentence,
            date=first.date,
        )
        moved = tuple(replace(c, n=c.n + 1) for c in draft.citations)
        text = MARKER.sub(lambda m: f"[{int(m.group(1)) + 1}]", draft.answer)
        return replace(
            draft, answer=f"{clip(unmarked(sentence))} [1] {text}", citations=(naming, *moved)
        )

    def _quoted(self, question: str, filters: Filters | None, mode: Mode) -> list[ScoredChunk]:
        """For "Who said '...'?", the quotes holding those words as the passages to answer from
        (each quoting sentence on its own, retrieval scores from its chunk); empty for other
        questions or when none holds them. ("What did X say?" is left to the answerer over
        ordinary retrieval: keeping it to the quotes found lost answers the patterns miss and
        answered near misses, docs/experiments.md.)"""
        who = _WHO_SAID.match(question)
        if who is None:
            return []
        wanted = filters.article_ids if filters else ()
        words = " ".join(who.group("words").lower().split())
        found = [
            (q, info)
            for q, info in self.quotes()
            if (not wanted or info.id in wanted) and words in " ".join(q.sentence.lower().split())
        ]
        if not found:
            return []
        ranked = {p.chunk.article_id: p for p in self.search(question, 20, filters, mode)}
        out = []
        for q, info in found[:50]:
            near = ranked.get(info.id)
            out.append(
                ScoredChunk(
                    chunk=Chunk(info.id, q.piece, q.start, q.end, q.sentence),
                    score=near.score if near else 0.0,
                    title=info.title,
                    source=info.source,
                    date=info.date,
                    url=info.url,
                    dense_rank=near.dense_rank if near else None,
                    lexical_rank=near.lexical_rank if near else None,
                    dense_score=near.dense_score if near else None,
                    version=info.version,
                )
            )
        groups = self.retriever.snapshot.groups
        shown: dict[tuple[str, ...], str] = {}  # one copy of a story, as search keeps it
        kept = [
            p
            for p in sorted(out, key=lambda p: -p.score)
            if not (g := groups.get(p.chunk.article_id))
            or shown.setdefault(g, p.chunk.article_id) == p.chunk.article_id
        ]
        return kept[:20]

    @staticmethod
    def _time_frame(
        question: str, filters: Filters | None, articles: dict[str, ArticleInfo]
    ) -> TimeFrame | None:
        """The dates the question names ("in March 2005", "before 2005", "this year"), to keep
        the answer to articles dated then: only when the request gives no dates of its own and
        the index has dated articles (undated ones cannot be placed in or out of a range)."""
        if filters is not None and (filters.date_from is not None or filters.date_to is not None):
            return None
        dates = [a.date for a in articles.values() if a.date is not None]
        if not dates:
            return None
        return time_frame(question, newest=max(dates))

    def _segments(self, article_id: str, passages: Sequence[ScoredChunk]) -> Segments:
        """The known text of the article version the passages came from: the article's whole
        text while that version is current, else that version's retrieved chunks, which are
        exact pieces of its text. An article replaced or removed while a question is answered
        is answered from the one version that was retrieved."""
        version = next((p.version for p in passages if p.chunk.article_id == article_id), None)
        if version is None:
            return []  # no passage of it was retrieved: nothing may be quoted from it
        text = self._texts.get((article_id, version))
        if text is None:
            try:
                info, current = self.store.article(article_id)
            except ArticleNotFound:
                info, current = None, ""
            if info is None or info.version != version:
                return [
                    (p.chunk.start, p.chunk.text)
                    for p in passages
                    if p.chunk.article_id == article_id and p.version == version
                ]
            text = self._texts[(article_id, version)] = current
            while len(self._texts) > 256:
                self._texts.pop(next(iter(self._texts)), None)  # other threads trim too
        return [(0, text)]

    def close(self) -> None:
        """Closes the Chroma client and releases the data dir; safe to call twice."""
        client, self._client = getattr(self, "_client", None), None
        if client is not None:
            client.close()
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            lock.release()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# "Who said 'not aware'?"
_WHO_SAID = re.compile(
    r"^\s*who\s+(?:said|says|told|wrote|stated|declared)\b[^\"“‘']*[\"“‘'](?P<words>[^\"”’]{3,}?)[\"”’']",
    re.IGNORECASE,
)


def _in_chunks(quote: Quote, chunks: list[int]) -> Quote:
    """The quote with its pieces numbered as the chunks they are."""
    named = quote.named
    return replace(
        quote,
        piece=chunks[quote.piece],
        named=None if named is None else (named[0], named[1], named[2], chunks[named[3]]),
    )


def _copies(
    article_id: str, groups: dict[str, tuple[str, ...]], articles: dict[str, ArticleInfo]
) -> tuple[Copy, ...]:
    """The other articles that carry the story of article_id, as citations name them."""
    return tuple(
        Copy(other, articles[other].title if other in articles else other)
        for other in groups.get(article_id, ())
        if other != article_id
    )


def make_answerer(settings: Settings) -> Answerer:
    """The answerer QA_ANSWERER names, with the shipped models."""
    from qa.answer.extractive import ExtractiveAnswerer

    if settings.answerer == "extractive":
        return ExtractiveAnswerer(settings.abstain_threshold)
    from qa.answer.llm import LLMAnswerer

    return LLMAnswerer.from_settings(settings)
