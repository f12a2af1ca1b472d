"""Answerers: the grounded extractive default, and the citation check every answer passes."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

from qa.chunking import sentence_spans
from qa.errors import CitationError, QAError
from qa.retrieval import tokenize
from qa.settings import Settings
from qa.spans import Kind, Span, best_span, candidates, in_question, question_kind
from qa.types import Answer, Citation, ScoredChunk

TermWeight = Callable[[str], float]  # how informative a (stemmed) term is, e.g. its IDF

NOT_COVERED = "The articles don't say."
MAX_ANSWER_WORDS = 60
# Chosen by `qa eval --calibrate` on SQuAD paragraphs held out of the index (near-misses)
# against indexed ones; see the README's evaluation section.
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Draft:
    """An answerer's output before timings and the final citation check."""

    answer: str
    short_answer: str | None
    answered: bool
    confidence: float
    citations: tuple[Citation, ...]


class Answerer(Protocol):
    """Turns a question and its retrieved passages into a cited Draft."""

    def answer(
        self, question: str, passages: Sequence[ScoredChunk], weight: TermWeight
    ) -> Draft: ...


@dataclass(frozen=True)
class _Sentence:
    passage: ScoredChunk
    rank: int
    start: int  # offsets into the article text
    end: int
    text: str
    terms: frozenset[str]
    score: float = 0.0
    coverage: float = 0.0


class ExtractiveAnswerer:
    """Picks the sentences that answer, from the passages alone; never writes new claims."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be within [0, 1], got {threshold}")
        self.threshold = threshold

    def answer(self, question: str, passages: Sequence[ScoredChunk], weight: TermWeight) -> Draft:
        sentences = _sentences(passages)
        weights = term_weights(question, weight)
        if not sentences or not weights:
            return _abstain(sentences[:2], 0.0)
        kind = question_kind(question)
        q_words = {w.lower() for w in re.findall(r"\w+", question)}
        scored = _score(sentences, weights, kind, q_words)
        best = scored[0]
        picked = [best]
        for other in scored[1:3]:
            words = sum(len(s.text.split()) for s in picked) + len(other.text.split())
            if other.score >= 0.8 * best.score and words <= MAX_ANSWER_WORDS:
                picked.append(other)
                break
        short = _short_answer(picked, question, kind, weights)
        confidence = _confidence(best, passages, kind, short is not None)
        if confidence < self.threshold:
            return _abstain(scored[:2], confidence)
        citations = _cite(picked)
        text = " ".join(f"{_clip(s.text)} [{c.n}]" for s, c in zip(picked, citations, strict=True))
        return Draft(text, short.text if short else None, True, confidence, citations)


def make_answerer(settings: Settings) -> Answerer:
    """The answerer QA_ANSWERER names."""
    threshold = settings.abstain_threshold
    if settings.answerer == "extractive":
        return ExtractiveAnswerer(DEFAULT_THRESHOLD if threshold is None else threshold)
    from qa.llm import LLMAnswerer

    return LLMAnswerer.from_settings(settings)


def verify_citations(answer: Answer, text_of: Callable[[str], str]) -> None:
    """Refuses an answer whose quotes are not exactly their articles' text, or whose [n] dangle."""
    numbers = {c.n for c in answer.citations}
    for c in answer.citations:
        try:
            text = text_of(c.article_id)
        except QAError as exc:
            raise CitationError(f"citation [{c.n}] names a missing article: {exc}") from exc
        if not (0 <= c.start < c.end <= len(text)) or text[c.start : c.end] != c.quote:
            raise CitationError(
                f"citation [{c.n}] does not match {c.article_id}[{c.start}:{c.end}]; refused"
            )
    for marker in re.findall(r"\[(\d+)\]", answer.answer):
        if int(marker) not in numbers:
            raise CitationError(f"the answer cites [{marker}] but has no such citation")


def _sentences(passages: Sequence[ScoredChunk]) -> list[_Sentence]:
    spans = []
    for rank, passage in enumerate(passages):
        chunk = passage.chunk
        for s, e in sentence_spans(chunk.text):
            spans.append((passage, rank, chunk.start + s, chunk.start + e, chunk.text[s:e]))
    terms = tokenize([s[4] for s in spans]) if spans else []
    return [_Sentence(*s, terms=frozenset(t)) for s, t in zip(spans, terms, strict=True)]


def term_weights(question: str, index_idf: TermWeight) -> dict[str, float]:
    """Stemmed question terms weighted by how specific they are.

    English-wide rarity (wordfreq) says what a word means in general, so it works on an index of
    one article; the index's own IDF discounts words every passage shares.
    """
    from wordfreq import zipf_frequency

    words = re.findall(r"[\w’'-]+", question)
    terms = tokenize(words) if words else []
    raw: dict[str, float] = {}
    for word, stems in zip(words, terms, strict=True):
        for stem in stems:
            general = max(0.3, 7.0 - zipf_frequency(word, "en"))
            raw[stem] = max(raw.get(stem, 0.0), general)
    if not raw:
        return {}
    idf = {t: index_idf(t) for t in raw}
    top = max(idf.values()) or 1.0
    return {t: w * (0.5 + 0.5 * idf[t] / top) for t, w in raw.items()}


def _score(
    sentences: list[_Sentence], weights: dict[str, float], kind: Kind, q_words: set[str]
) -> list[_Sentence]:
    q_terms = list(weights)
    total = sum(weights.values()) or 1.0
    bigrams = list(pairwise(q_terms))
    out = []
    for i, s in enumerate(sentences):
        coverage = sum(w for t, w in weights.items() if t in s.terms) / total
        near = set(s.terms)
        for j in (i - 1, i + 1):
            if 0 <= j < len(sentences) and sentences[j].passage is s.passage:
                near |= sentences[j].terms
        context = sum(w for t, w in weights.items() if t in near) / total
        pairs = sum(1 for a, b in bigrams if a in s.terms and b in s.terms) / max(1, len(bigrams))
        typed = any(not in_question(c, q_words) for c in candidates(s.text, kind))
        score = coverage + 0.3 * context + 0.15 * pairs + 0.15 * typed + 0.2 / (1 + s.rank)
        out.append(_replace(s, score=score, coverage=context))
    out.sort(key=lambda s: -s.score)
    return out


def _short_answer(
    picked: list[_Sentence], question: str, kind: Kind, weights: dict[str, float]
) -> Span | None:
    for sentence in picked:
        span = best_span(sentence.text, question, kind, weights)
        if span is not None:
            return span
    return None


def _confidence(best: _Sentence, passages: Sequence[ScoredChunk], kind: str, typed: bool) -> float:
    dense = max((p.dense_score or 0.0) for p in passages) if passages else 0.0
    needs_type = kind in ("number", "date", "person", "place")
    z = 6.0 * best.coverage + 3.0 * dense + (1.0 if typed or not needs_type else -1.0) - 5.0
    return 1.0 / (1.0 + math.exp(-z))


def _abstain(closest: Sequence[_Sentence], confidence: float) -> Draft:
    citations = _cite(list(closest))
    text = NOT_COVERED + (" The closest passages are cited." if citations else "")
    return Draft(text, None, False, confidence, citations)


def _cite(sentences: list[_Sentence]) -> tuple[Citation, ...]:
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


def _replace(s: _Sentence, **changes: float) -> _Sentence:
    from dataclasses import replace

    return replace(s, **changes)
