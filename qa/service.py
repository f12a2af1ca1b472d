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

from qa.answer.base import NOT_COVERED, Answerer, Draft
from qa.answer.citations import MARKER, Segments, day_refs, unmarked, verify_citations
from qa.answer.claims import verify_claims
from qa.answer.decisions import clip
from qa.chat import standalone_question
from qa.dates import TimeFrame, time_frame
from qa.errors import ArticleNotFound, IndexEmpty, InvalidRequest
from qa.index.embedding import Embedder, SentenceTransformerEmbedder, set_threads
from qa.index.retriever import Mode, Retriever
from qa.index.store import ChromaStore, connect
from qa.ingest.ingester import Ingester, Progress
from qa.quotes import VERBS, Quote, article_quotes, speaks
from qa.said import (
    SaidQuestion,
    about_them,
    covers,
    quoted_by,
    quoting,
    read_question,
    says_who,
)
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
            set_threads(settings.threads)
            self.embedder = embedder or SentenceTransformerEmbedder(
                settings.embed_model, settings.embed_precision, settings.embed_batch_size
            )
            self.store = ChromaStore(
                self._client, settings.embed_model, self.embedder.dim, settings.collection_prefix
            )
            if self._lock is not None:  # sole owner: safe to clear what a crash left behind
                self.store.repair()
            # Beside an embedded index only: its data dir is this process's alone.
            derived = (
                None
                if settings.chroma_url
                else Path(settings.data_dir) / f"{settings.collection_prefix}_derived.json"
            )
            self.retriever = Retriever(
                self.store, self.embedder, settings.sync_interval_s, cache_path=derived
            )
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
        # (article id, version) -> its quotes, as stored at ingest
        self._quotes: dict[tuple[str, str], list[Quote]] = {}
        # (the snapshot it was made from, every quote, the quotes by position): _quotes_now
        self._quote_index: (
            tuple[object, list[tuple[Quote, ArticleInfo]], dict[tuple[str, int], Quote]] | None
        ) = None

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
        `piece` is the number of its chunk. Read from the article records (found at ingest),
        or found from the chunks for records stored without them, once per article version."""
        found = self._quotes_now()[0]
        if speaker is None:
            return found
        return [(q, info) for q, info in found if speaks(q, speaker)]

    def _quotes_now(self) -> tuple[list[tuple[Quote, ArticleInfo]], dict[tuple[str, int], Quote]]:
        """Every quote of the current snapshot (see quotes) and the quotes by (article id,
        start), made once a snapshot: a who-said question over thousands of articles would
        otherwise rebuild both (about 10 ms over the 9,938 quotes of the BBC articles)."""
        snap = self.retriever.refresh()
        made_from = (snap.generation, id(snap.articles), id(snap.lexical))
        made = self._quote_index
        if made is not None and made[0] == made_from:
            return made[1], made[2]
        current = {(a, i.version) for a, i in snap.articles.items()}
        missing = {a: v for a, v in current if (a, v) not in self._quotes}
        stored = self.store.quotes_of(missing) if missing else {}
        pieces: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
        for a, v in missing.items():
            if stored.get(a) is not None:
                self._quotes[(a, v)] = stored[a] or []
        for e in snap.lexical.entries:  # records stored without quotes: found from the chunks
            key = (e.chunk.article_id, e.version)
            if key not in self._quotes:
                pieces.setdefault(key, []).append((e.chunk.n, e.chunk.start, e.chunk.text))
        for key, parts in pieces.items():
            self._quotes[key] = article_quotes(sorted(parts))
        for old in [k for k in self._quotes if k not in current]:
            self._quotes.pop(old, None)
        found = [
            (q, snap.articles[a])
            for (a, v) in sorted(current)
            for q in self._quotes.get((a, v), [])
        ]
        at = {(info.id, q.start): q for q, info in found}
        self._quote_index = (made_from, found, at)  # one assignment: seen whole or not at all
        return found, at

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
        said = read_question(standalone)
        if said is None:
            passages = self.search(standalone, top_k, filters, mode)
            t1 = time.perf_counter()
            # The articles are kept to the time the question names: the answer need not name it.
            asked = frame.without(standalone) if frame is not None else standalone
            draft = self.answerer.answer(asked, passages, self.term_weight)
        else:  # its searches and answers interleave: all of it counts as answering
            t1 = time.perf_counter()
            draft, passages = self._who_said_what(standalone, said, top_k, filters, mode)
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

    def _who_said_what(
        self,
        question: str,
        said: SaidQuestion,
        top_k: int | None,
        filters: Filters | None,
        mode: Mode,
    ) -> tuple[Draft, list[ScoredChunk]]:
        """A who-said-what question's draft and the passages it came from (qa/said.py):

        - "Who said '...'?": the quote holding those words, naming its speaker; when no quote
          holds them, the answerer over ordinary retrieval.
        - "Who denied ...?": the answerer over ordinary retrieval, with the speaker of the
          quote it cites as the short answer.
        - "What did X say (about Y)?": the answerer over X's quotes; when none answers, the
          answerer over ordinary retrieval, kept only when its answer quotes X (and holds Y).
        """
        quotes, at = self._quotes_now()
        if said.kind == "quoted":
            found = [
                (q, info)
                for q, info in quotes
                if said.words in " ".join(q.sentence.lower().split()) and _allowed(info, filters)
            ]
            if found:  # those holding the words as the words of a quotation, if any do
                best = max(quoting(said.words, q) for q, _ in found)
                found = [(q, info) for q, info in found if quoting(said.words, q) == best]
                passages = self._quote_passages(question, found, filters, mode)
                return self._quote_answer(found, passages), passages
        passages = self.search(question, top_k, filters, mode)
        if said.kind == "what":
            return self._what_said(question, said, quotes, at, passages, filters, mode)
        draft = self.answerer.answer(question, passages, self.term_weight)
        if draft.answered and draft.citations:
            first = draft.citations[0]
            quote = at.get((first.article_id, first.start))
            if quote is not None:
                draft = (
                    self._with_speaker(draft, quote) if says_who(said, quote) else _declined(draft)
                )
            elif not _ATTRIBUTED.search(first.quote):  # no one is said to say anything
                draft = _declined(draft)
        return draft, passages

    def _what_said(
        self,
        question: str,
        said: SaidQuestion,
        quotes: list[tuple[Quote, ArticleInfo]],
        at: dict[tuple[str, int], Quote],
        passages: list[ScoredChunk],
        filters: Filters | None,
        mode: Mode,
    ) -> tuple[Draft, list[ScoredChunk]]:
        """What a speaker said (about a topic): an answer that quotes them, or none."""

        def fits(draft: Draft) -> bool:
            if not (draft.answered and draft.citations):
                return False
            first = draft.citations[0]
            return quoted_by(
                at.get((first.article_id, first.start)), first.quote, said.speaker
            ) and covers(said.about, [c.quote for c in draft.citations])

        theirs = [
            (q, info)
            for q, info in quotes
            if (speaks(q, said.speaker) or said.speaker.lower() in q.speaker.lower())
            and _allowed(info, filters)
        ]
        if theirs:
            own = self._quote_passages(question, theirs, filters, mode)
            for asked in (question, about_them(said)):
                draft = self.answerer.answer(asked, own, self.term_weight)
                if fits(draft):
                    return draft, own
                # Any quote of theirs that holds the whole topic is something they said about
                # it, whatever the judge, which weighs answers to one fact, makes of it.
                held = [c for c in draft.citations if said.about and covers(said.about, [c.quote])]
                if held:
                    first = replace(held[0], n=1)
                    text = f"{clip(unmarked(first.quote))} [1]"
                    return replace(draft, answer=text, answered=True, citations=(first,)), own
        draft = self.answerer.answer(question, passages, self.term_weight)
        if draft.answered and not fits(draft):
            draft = _declined(draft)
        return draft, passages

    def _quote_answer(
        self, found: list[tuple[Quote, ArticleInfo]], passages: list[ScoredChunk]
    ) -> Draft:
        """The answer to "Who said '...'?" when quotes hold those words: the best-ranked one,
        its speaker the short answer. Its confidence is the share of those quotes that one
        speaker said, at most 0.9: the words were found, only whose they are may be wrong."""
        best = passages[0]
        quote = next(
            q
            for q, info in found
            if (info.id, q.start) == (best.chunk.article_id, best.chunk.start)
        )
        share = sum(q.speaker == quote.speaker for q, _ in found) / len(found)
        citation = _first_citation(
            best.chunk.article_id,
            best.title,
            best.date,
            quote.piece,
            quote.start,
            quote.end,
            quote.sentence,
        )
        draft = Draft(f"{clip(unmarked(quote.sentence))} [1]", None, True, 0.9 * share, (citation,))
        return self._with_speaker(draft, quote)

    def _with_speaker(self, draft: Draft, quote: Quote) -> Draft:
        """An answer citing `quote` first, with its speaker as the short answer, and, when the
        quoting sentence names them only as "he" or by surname, the sentence that gives the
        full name cited first, so the answer itself says who."""
        first = draft.citations[0]
        draft = replace(draft, short_answer=quote.speaker)
        if quote.named is None or quote.speaker in draft.answer:
            return draft
        start, end, sentence, n = quote.named
        if any(c.article_id == first.article_id and c.start == start for c in draft.citations):
            return draft
        naming = _first_citation(first.article_id, first.title, first.date, n, start, end, sentence)
        moved = tuple(replace(c, n=c.n + 1) for c in draft.citations)
        text = MARKER.sub(lambda m: f"[{int(m.group(1)) + 1}]", draft.answer)
        return replace(
            draft, answer=f"{clip(unmarked(sentence))} [1] {text}", citations=(naming, *moved)
        )

    def _quote_passages(
        self,
        question: str,
        found: list[tuple[Quote, ArticleInfo]],
        filters: Filters | None,
        mode: Mode,
    ) -> list[ScoredChunk]:
        """Quotes as passages to answer from: each quoting sentence on its own, with the
        retrieval scores of the question's best chunk of its article, best first, one copy of
        a story (as search keeps it), at most 20."""
        ranked: dict[str, ScoredChunk] = {}
        for p in self.search(question, 20, filters, mode):
            ranked.setdefault(p.chunk.article_id, p)
        out = []
        for q, info in found:
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
        shown: dict[tuple[str, ...], str] = {}
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
        retriever = getattr(self, "retriever", None)
        if retriever is not None:
            retriever.close()  # a write of the derived-data cache finishes first
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


# An attribution the quote patterns may not have found: a verb of saying, or quotation marks.
_ATTRIBUTED = re.compile(rf"\b(?:{VERBS}|according\s+to)\b|[\"“”]", re.IGNORECASE)


def _first_citation(
    article_id: str, title: str, date: int | None, n: int, start: int, end: int, sentence: str
) -> Citation:
    """Citation [1] of a sentence of chunk n of an article, its day words resolved."""
    chunk_id = Chunk(article_id, n, start, end, sentence).id
    return Citation(
        1,
        article_id,
        title,
        chunk_id,
        start,
        end,
        sentence,
        date=date,
        days=day_refs(sentence, date),
    )


def _declined(draft: Draft) -> Draft:
    """The draft as "the articles don't say", citing what it would have answered with."""
    text = NOT_COVERED + (" The closest passages are cited." if draft.citations else "")
    return replace(draft, answer=text, short_answer=None, answered=False)


def _allowed(info: ArticleInfo, filters: Filters | None) -> bool:
    """Whether an article passes the request's filters (its ids, source and dates)."""
    return filters is None or filters.admits(info)


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
