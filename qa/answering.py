"""Answerers: the grounded extractive default, and the citation check every answer passes."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from qa.errors import CitationError, QAError
from qa.features import (
    AnswerModel,
    Judge,
    Question,
    Sentence,
    TermWeight,
    confidence_features,
    final_row,
    load_model,
    previous_sentences,
    sentence_features,
    sentences_of,
    span_margin,
    to_read,
)
from qa.settings import Settings
from qa.types import Answer, Citation, ScoredChunk

if TYPE_CHECKING:
    from qa.reader import Found

NOT_COVERED = "The articles don't say."
MAX_ANSWER_WORDS = 60


@dataclass(frozen=True)
class Draft:
    """An answerer's output before timings and the final citation check."""

    answer: str
    short_answer: str | None
    answered: bool
    confidence: float
    citations: tuple[Citation, ...]


class Reader(Protocol):
    """Says, as a logit, how likely each sentence is to answer the question (qa/reader.py)."""

    def logits(
        self,
        question: str,
        sentences: Sequence[str],
        titles: Sequence[str | None] | None = None,
        previous: Sequence[str | None] | None = None,
    ) -> list[float]: ...


class SpanFinder(Protocol):
    """Finds the words of each sentence that answer the question (qa/reader.py SpanReader)."""

    def find(self, question: str, sentences: Sequence[str]) -> Sequence[Found | None]: ...


class Answerer(Protocol):
    """Turns a question and its retrieved passages into a cited Draft."""

    def answer(
        self, question: str, passages: Sequence[ScoredChunk], weight: TermWeight
    ) -> Draft: ...


class ExtractiveAnswerer:
    """Picks the sentences that answer, from the passages alone; never writes new claims.

    Sentences are ranked in stages: a logistic model over lexical, type and retrieval features
    (qa/features.py) orders them all, the first reader (qa/reader.py, a cross-encoder) reads the
    best few, and a judge (two more logistic models) weighs both opinions and says how sure the
    answer is, hearing also whether the span reader finds the words that answer in the sentence
    it would answer with (a sentence on the topic that lacks the fact asked about often has
    none) and whether that sentence's article names what the question names. When it is
    neither sure nor sure of nothing (its confidence within the model's band), every reader
    reads the same sentences and a second judge, learned on the mean of their logits, decides:
    a cascade that spends the second reader where it changes answers.
    The span reader's words are the short answer. All are learned from SQuAD paragraphs
    (eval/train_*.py).
    """

    def __init__(
        self,
        threshold: float | None = None,
        model: AnswerModel | None = None,
        readers: Sequence[Reader] | None = None,
        spans: SpanFinder | None = None,
    ) -> None:
        self.model = model or load_model()
        if readers is None:
            from qa.reader import load_readers

            readers = load_readers()
        if not readers:
            raise ValueError("the extractive answerer needs at least one reader")
        self.readers = tuple(readers)
        if spans is None:
            from qa.reader import load_span_reader

            spans = load_span_reader()
        self.spans = spans
        if threshold is not None and not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be within [0, 1], got {threshold}")
        self.threshold = threshold  # None: each judge's calibrated threshold

    def rank(self, question: str, passages: Sequence[ScoredChunk], weight: TermWeight) -> Ranking:
        """The passages' sentences, best first, with their probabilities and the confidence."""
        q = Question.parse(question, weight)
        sentences = sentences_of(passages)
        quick = self.model.quick
        if not sentences or not q.weights:
            zeros, nothing = [0.0] * len(sentences), [None] * len(sentences)
            return Ranking(q, sentences, zeros, 0.0, self._bar(quick), quick, nothing)
        rows = sentence_features(q, sentences)
        first = [self.model.ranker(row) for row in rows]
        read = to_read(first)
        before = previous_sentences(sentences)
        args = (
            question,
            [sentences[i].text for i in read],
            [sentences[i].passage.title for i in read],
            [before[i] for i in read],
        )
        found: dict[int, Found | None] = {}

        def span_of(i: int) -> float:
            """The span margin of sentence i, read once an ask."""
            if i not in found:
                found[i] = self.spans.find(question, [sentences[i].text])[0]
            span = found[i]
            return span_margin(span.margin if span else None)

        logits = self.readers[0].logits(*args)
        judge, (probs, confidence) = quick, _judge(quick, rows, first, read, logits, span_of)
        careful, (low, high) = self.model.careful, self.model.band
        if careful is not None and len(self.readers) > 1 and low <= confidence < high:
            each = [logits] + [r.logits(*args) for r in self.readers[1:]]
            mean = [sum(z) / len(z) for z in zip(*each, strict=True)]
            judge, (probs, confidence) = careful, _judge(careful, rows, first, read, mean, span_of)
        order = sorted(range(len(sentences)), key=lambda i: -probs[i])
        return Ranking(
            q,
            [sentences[i] for i in order],
            [probs[i] for i in order],
            confidence,
            self._bar(judge),
            judge,
            [found.get(i) for i in order],
        )

    def _bar(self, judge: Judge) -> float:
        return judge.threshold if self.threshold is None else self.threshold

    def answer(self, question: str, passages: Sequence[ScoredChunk], weight: TermWeight) -> Draft:
        ranked = self.rank(question, passages, weight)
        sentences, probs = ranked.sentences, ranked.probs
        if not sentences or not ranked.question.weights or ranked.confidence < ranked.threshold:
            return abstain(sentences[:2], ranked.confidence)
        picked = [sentences[0]]
        for i in (1, 2)[: len(sentences) - 1]:
            words = len(sentences[0].text.split()) + len(sentences[i].text.split())
            if probs[i] >= ranked.judge.second_ratio * probs[0] and words <= MAX_ANSWER_WORDS:
                picked.append(sentences[i])
                break
        citations = cite(picked)
        text = " ".join(
            f"{_clip(unmarked(s.text))} [{c.n}]" for s, c in zip(picked, citations, strict=True)
        )
        short = self.short_answer(picked, ranked.question, ranked.spans[: len(picked)])
        return Draft(text, short, True, ranked.confidence, citations)

    def short_answer(
        self,
        sentences: Sequence[Sentence],
        q: Question,
        found: Sequence[Found | None] | None = None,
    ) -> str | None:
        """The span that answers, from the first of the sentences in which the span reader
        finds one (`found`: its spans of them where it has read them already); None when it
        finds none (the sentence answers, but no short span does)."""
        for k, s in enumerate(sentences):  # one at a time: the first nearly always has it
            span = found[k] if found is not None and k < len(found) else None
            if span is None:
                span = self.spans.find(q.text, [s.text])[0]
            if span is not None and span.margin > 0 and span.text:
                return span.text
        return None


def _judge(
    judge: Judge,
    rows: list[list[float]],
    first: list[float],
    read: list[int],
    logits: list[float],
    span_of: Callable[[int], float],
) -> tuple[list[float], float]:
    """Every sentence's probability (those not read after those read, in the first ranker's
    order) and the confidence in the best (span_of: a sentence's span margin)."""
    reader = dict(zip(read, logits, strict=True))
    probs = [
        judge.final(final_row(p, reader[i])) if i in reader else p * 1e-3
        for i, p in enumerate(first)
    ]
    best = max(range(len(probs)), key=lambda i: probs[i])
    return probs, judge.confidence(confidence_features(rows, probs, best, reader, span_of(best)))


@dataclass(frozen=True)
class Ranking:
    """What the extractive answerer makes of the passages, before it decides what to say."""

    question: Question
    sentences: list[Sentence]  # best first
    probs: list[float]
    confidence: float
    threshold: float  # abstain below it
    judge: Judge  # the judge that decided
    spans: Sequence[Found | None]  # the span reader's best span of each sentence, where it read one


def make_answerer(settings: Settings) -> Answerer:
    """The answerer QA_ANSWERER names."""
    if settings.answerer == "extractive":
        return ExtractiveAnswerer(settings.abstain_threshold)
    from qa.llm import LLMAnswerer

    return LLMAnswerer.from_settings(settings)


# A citation marker in an answer: "[n]". The sentences quoted into an answer have their own
# bracketed numbers (footnote references in scraped text) taken out by `unmarked`, so every
# marker an answer holds is one of its citations.
MARKER = re.compile(r"\[(\d+)\]")
_FOOTNOTE = re.compile(r"\s*\[\d+\]")

Segments = Sequence[tuple[int, str]]  # (offset in the article text, the text from there)


def unmarked(text: str) -> str:
    """The text without bracketed numbers, which an answer may only use as its own markers."""
    return _FOOTNOTE.sub("", text)


def verify_citations(answer: Answer, text_of: Callable[[str], Segments]) -> None:
    """Refuses an answer whose quotes are not exactly their articles' text, or whose [n] dangle.

    text_of gives the known text of an article version as segments: the whole text, or the
    stored chunks of the version the passages came from when it has been replaced since."""
    numbers = {c.n for c in answer.citations}
    for c in answer.citations:
        try:
            segments = text_of(c.article_id)
        except QAError as exc:
            raise CitationError(f"citation [{c.n}] names a missing article: {exc}") from exc
        if not any(
            0 <= c.start - at < c.end - at <= len(text)
            and text[c.start - at : c.end - at] == c.quote
            for at, text in segments
        ):
            raise CitationError(
                f"citation [{c.n}] does not match {c.article_id}[{c.start}:{c.end}]; refused"
            )
    for marker in MARKER.findall(answer.answer):
        if int(marker) not in numbers:
            raise CitationError(f"the answer cites [{marker}] but has no such citation")


def abstain(closest: Sequence[Sentence], confidence: float) -> Draft:
    citations = cite(list(closest))
    text = NOT_COVERED + (" The closest passages are cited." if citations else "")
    return Draft(text, None, False, confidence, citations)


def cite(sentences: list[Sentence]) -> tuple[Citation, ...]:
    return tuple(
        Citation(
            n=i,
            article_id=s.passage.chunk.article_id,
            title=s.passage.title,
            chunk_id=s.passage.chunk.id,
            start=s.start,
            end=s.end,
            quote=s.text,
        )
        for i, s in enumerate(sentences, start=1)
    )


def _clip(text: str) -> str:
    words = text.split()
    return " ".join(words[:MAX_ANSWER_WORDS]) + (" …" if len(words) > MAX_ANSWER_WORDS else "")
