"""The extractive answerer: picks the sentences that answer, from the passages alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from qa.answer.base import Draft, SpanFinder
from qa.answer.citations import cite, unmarked
from qa.answer.decisions import (
    MAX_ANSWER_WORDS,
    SURVEY_RATIO,
    SURVEY_WORDS,
    abstain,
    clip,
    is_survey,
    judge_sentences,
    pick,
    pick_survey,
    survey_covered,
    to_read,
)
from qa.answer.features import (
    Question,
    Sentence,
    TermWeight,
    sentence_features,
    sentences_of,
    span_margin,
    verdict_score,
)
from qa.answer.model import AnswerModel, Judge, load_model
from qa.dates import day_words, with_days
from qa.errors import ModelMismatch
from qa.types import ScoredChunk

# Question kinds whose answer is always a span of the answering sentence (candidates.Kind).
SPAN_KINDS = frozenset({"number", "date", "person", "place", "name"})

if TYPE_CHECKING:
    from qa.answer.readers import Found


class ExtractiveAnswerer:
    """Picks the sentences that answer, from the passages alone; never writes new claims.

    Sentences are ranked in two stages: a logistic model over lexical, type and retrieval
    features (features.py) orders them all, then the span reader (readers.py, a cross-encoder)
    reads the best few in one pass and gives each its best span and how far that beats "no
    words here answer"; the judge (two more logistic models, model.py) weighs the ranker and
    those margins, and says how sure the answer is, hearing also whether the chosen sentence's
    article names what the question names. The short answer is the span the same pass found in
    the sentence an answer quotes. The parts come in through the constructor; by default the
    shipped ones.
    """

    def __init__(
        self,
        threshold: float | None = None,
        model: AnswerModel | None = None,
        spans: SpanFinder | None = None,
    ) -> None:
        self.model = model or load_model()
        if spans is None:
            from qa.answer.readers import load_span_reader

            spans = load_span_reader()
        self.spans = spans
        if threshold is not None and not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be within [0, 1], got {threshold}")
        self.threshold = threshold  # None: the judge's calibrated threshold

    def rank(self, question: str, passages: Sequence[ScoredChunk], weight: TermWeight) -> Ranking:
        """The passages' sentences, best first, with their probabilities and the confidence."""
        q = Question.parse(question, weight)
        sentences = sentences_of(passages)
        judge = self.model.judge
        if not sentences or not q.weights:
            zeros = [0.0] * len(sentences)
            return Ranking(q, sentences, zeros, 0.0, self._bar(judge), judge, {})
        rows = sentence_features(q, sentences)
        first = [self.model.ranker(row) for row in rows]
        read = to_read(first, judge.read_top, judge.read_passages, [s.rank for s in sentences])
        spans = self.spans.read(question, [sentences[i].in_passage() for i in read])
        found: dict[int, Found | None] = dict(zip(read, spans, strict=True))
        margins = [span_margin(f.margin if f else None) for f in spans]
        verdicts = reader_verdicts(spans) if judge.verdict else None
        probs, confidence = judge_sentences(judge, rows, first, read, margins, verdicts)
        order = sorted(range(len(sentences)), key=lambda i: -probs[i])
        return Ranking(
            q,
            [sentences[i] for i in order],
            [probs[i] for i in order],
            confidence,
            self._bar(judge),
            judge,
            {n: found[i] for n, i in enumerate(order) if i in found},
        )

    def _bar(self, judge: Judge) -> float:
        return judge.threshold if self.threshold is None else self.threshold

    def answer(self, question: str, passages: Sequence[ScoredChunk], weight: TermWeight) -> Draft:
        return self.from_ranking(self.rank(question, passages, weight))

    def from_ranking(self, ranked: Ranking) -> Draft:
        """The answer that a ranking of the passages' sentences gives: the best sentence (and a
        second one when the judge finds it nearly as likely), or an abstention."""
        sentences, probs = ranked.sentences, ranked.probs
        survey = is_survey(ranked.question.text)
        confident = ranked.confidence >= ranked.threshold or (
            survey
            and bool(sentences)
            and survey_covered(ranked.question.weights, sentences[0].terms)
        )
        if not sentences or not ranked.question.weights or not confident:
            return abstain(sentences[:2], ranked.confidence)
        words = [len(s.text.split()) for s in sentences]
        asked = set(ranked.question.weights)
        # A second sentence must share a term with the question, and say something the best
        # does not (the same sentence in a near copy of the story adds nothing).
        best = " ".join(sentences[max(range(len(probs)), key=lambda i: probs[i])].text.split())
        on_topic = [bool(asked & s.terms) and " ".join(s.text.split()) != best for s in sentences]
        if survey:  # what several articles say: the best sentence of each of up to three
            articles = [s.passage.chunk.article_id for s in sentences]
            chosen = pick_survey(probs, articles, SURVEY_RATIO)
            chosen = [i for i in chosen if i == chosen[0] or on_topic[i]]
        else:
            chosen = pick(probs, words, ranked.judge.second_ratio, on_topic)
        picked = [sentences[i] for i in chosen]
        citations = cite(picked)
        most = SURVEY_WORDS if survey and len(picked) > 1 else MAX_ANSWER_WORDS
        text = " ".join(
            f"{clip(unmarked(s.text), most)} [{c.n}]"
            for s, c in zip(picked, citations, strict=True)
        )
        short = self.short_answer(picked, ranked.question, [ranked.found.get(i) for i in chosen])
        return Draft(text, short, True, ranked.confidence, citations)

    def short_answer(
        self,
        sentences: Sequence[Sentence],
        q: Question,
        found: Sequence[Found | None] | None = None,
    ) -> str | None:
        """The span reader's words that answer, from the first of the sentences in which it
        finds any (found: what it found in each when ranking; a sentence it did not read is
        read now); None when it finds none (the sentence answers, but no short span does).

        A question asking for a thing (a number, a date, a person, a place, a named thing) has
        a short answer wherever its answer is, so when the reader finds none above "no words
        here answer" the first sentence's best span is given all the same: on held-out SQuAD
        train answer sentences such spans are exactly right about a third of the time (F1
        0.6), where giving none never is. Other questions ("what did she say", "why") keep only
        spans the reader rates above it.
        """
        found = found or [None] * len(sentences)
        weak: tuple[Sentence, Found] | None = None
        for s, known in zip(sentences, found, strict=True):
            span = known or self.spans.read(q.text, [s.in_passage()])[0]
            if span is None or not span.text:
                continue
            if span.margin > 0:
                return _dated(s, span)
            weak = weak or (s, span)
        return _dated(*weak) if weak and q.kind in SPAN_KINDS else None


def _dated(s: Sentence, span: Found) -> str:
    """The span's text, a day word in it dated where the article's date is known: "Tuesday" ->
    "Tuesday (11 August 2015)"."""
    inside = [
        replace(w, start=w.start - span.start, end=w.end - span.start)
        for w in day_words(s.text, s.passage.date)
        if span.start <= w.start and w.end <= span.end
    ]
    return with_days(span.text, inside)


def reader_verdicts(spans: Sequence[Found | None]) -> list[float]:
    """The reader's verdicts (features.verdict_score) on the sentences it read, the lowest
    where it could read none of a sentence's words; refuses a reader that gives none."""
    said = [None if f is None else verdict_score(f.verdict) for f in spans]
    if any(f is not None and v is None for f, v in zip(spans, said, strict=True)):
        raise ModelMismatch(
            "the answer model weighs the span reader's verdict, and this reader gives none: "
            "train one with python -m eval.train.spans --verdict, or refit the answer model"
        )
    return [span_margin(None) if v is None else v for v in said]


@dataclass(frozen=True)
class Ranking:
    """What the extractive answerer makes of the passages, before it decides what to say."""

    question: Question
    sentences: list[Sentence]  # best first
    probs: list[float]
    confidence: float
    threshold: float  # abstain below it
    judge: Judge
    found: dict[int, Found | None]  # the span reader's best span of each sentence it read
