"""What the extractive answerer knows about each candidate sentence, as named numbers.

Rows are name -> value; the models of qa/answer/model.py read them by the names they were
trained on (`python -m eval.train.answerer`), so a feature can never be read in another's place.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

from qa.answer.candidates import Kind, candidates, in_question, question_kind
from qa.text import WORD, sentence_spans, tokenize
from qa.types import ScoredChunk

TermWeight = Callable[[str], float]  # how informative a (stemmed) term is, e.g. its IDF
Features = dict[str, float]  # a row of features, by name

# Features describe the sentence, not where retrieval ranked its passage: learned on SQuAD
# (one paragraph an article, the first passage nearly always right) rank features swamp the
# rest and fail on news, where the answer is often in an article's third chunk.
# The names sentence_features computes, confidence_features and final_row likewise; the model
# file must name exactly these (qa/answer/model.py), and tests check the rows agree.
SENTENCE_FEATURES = (
    "coverage",
    "context",
    "pairs",
    "typed",
    "type_missing",
    "dense",
    "lexical",
    "missing",
    "missing_here",
    "length",
    "anaphor",
    "typed_near",
    "content_missing",
    "absent",
    "name_missing",
)
CONFIDENCE_FEATURES = (
    "best",
    "margin",
    "coverage",
    "context",
    "missing",
    "missing_here",
    "typed",
    "type_missing",
    "dense",
    "lexical",
    "typed_near",
    "content_missing",
    "absent",
    "reader",
    "reader_margin",
    "name_missing",
)
FINAL_FEATURES = ("ranker", "reader", "missing", "name_missing")
# What both stages also weigh when the span reader gives a verdict (readers.ReaderConfig): its
# logit that the sentence answers at all, clipped to +-SPAN_CLIP. A model fitted with it needs
# a reader that gives one; one fitted without it ignores a reader's verdict.
VERDICT_FEATURES = ("verdict",)
# The second stage's features that describe the sentence itself, copied from its row.
_FINAL_FROM_SENTENCE = tuple(name for name in FINAL_FEATURES if name in SENTENCE_FEATURES)
# The confidence features that describe the chosen sentence itself, copied from its row.
_FROM_SENTENCE = tuple(name for name in CONFIDENCE_FEATURES if name in SENTENCE_FEATURES)
# What the reader says of a sentence: how far its best short answer beats the null answer ("no
# words here answer"), clipped to +-SPAN_CLIP (span_margin).
SPAN_CLIP = 10.0
# Words that point back to the sentence before ("He was a critic of…", "Its main component…").
ANAPHORS = frozenset(
    [
        "he",
        "she",
        "it",
        "its",
        "they",
        "their",
        "his",
        "her",
        "this",
        "these",
        "those",
        "such",
        "the",
    ]
)
CONTENT_WEIGHT = 2.5  # a question term at least this specific is a content word (zipf <= 4.5)
TYPED_KINDS = ("number", "date", "person", "place")


class InPassage(NamedTuple):
    """A sentence as a span reader reads it in context: text[start:end] is the sentence, text is
    its passage, and text[before:start] the sentence before it there (before is None where the
    sentence opens the passage)."""

    text: str
    start: int
    end: int
    before: int | None = None


@dataclass(frozen=True)
class Sentence:
    """A candidate sentence: text == article.text[start:end]; `before`, the article offset of
    the sentence before it in the same passage (None where it opens the passage)."""

    passage: ScoredChunk
    rank: int
    start: int
    end: int
    text: str
    terms: frozenset[str]
    before: int | None = None

    def in_passage(self) -> InPassage:
        """The sentence in its chunk, with where the sentence before it there starts."""
        chunk = self.passage.chunk
        before = None if self.before is None else self.before - chunk.start
        return InPassage(chunk.text, self.start - chunk.start, self.end - chunk.start, before)


@dataclass(frozen=True)
class Question:
    """A question as the answerer sees it."""

    text: str
    kind: Kind
    weights: dict[str, float]
    words: frozenset[str]
    names: tuple[frozenset[str], ...] = ()  # name_phrases

    @classmethod
    def parse(cls, text: str, index_idf: TermWeight) -> Question:
        return cls(
            text=text,
            kind=question_kind(text),
            weights=term_weights(text, index_idf),
            words=frozenset(w.lower() for w in re.findall(r"\w+", text)),
            names=name_phrases(text),
        )


def name_phrases(question: str) -> tuple[frozenset[str], ...]:
    """The stems of each name the question mentions: a run of capitalised words (or words with
    digits) after its first word. "What did Mark Toner say about Pakistan?" names {mark, toner} and
    {pakistan}. News calls a person by surname after the first mention, so a name counts as
    mentioned where any of its words is; a question typed in capitals is one long "name",
    mentioned wherever any of its words is."""
    words = WORD.findall(question)
    runs: list[list[str]] = [[]]
    for i, word in enumerate(words):
        if i > 0 and (word[:1].isupper() or any(c.isdigit() for c in word)):
            runs[-1].append(word)
        elif runs[-1]:
            runs.append([])
    names = []
    for run in runs:
        stems = frozenset(stem for stems in (tokenize(run) if run else []) for stem in stems)
        if stems:
            names.append(stems)
    return tuple(names)


def sentences_of(passages: Sequence[ScoredChunk]) -> list[Sentence]:
    """Every sentence of the retrieved passages, with exact article offsets."""
    spans = []
    for rank, passage in enumerate(passages):
        chunk = passage.chunk
        known = chunk.sentences
        before: int | None = None
        for s, e in known if known is not None else sentence_spans(chunk.text):
            spans.append((passage, rank, chunk.start + s, chunk.start + e, chunk.text[s:e], before))
            before = chunk.start + s
    terms = tokenize([s[4] for s in spans]) if spans else []
    return [
        Sentence(*s[:5], terms=frozenset(t), before=s[5]) for s, t in zip(spans, terms, strict=True)
    ]


def term_weights(question: str, index_idf: TermWeight) -> dict[str, float]:
    """Stemmed question terms weighted by how specific they are.

    English-wide rarity (wordfreq) says what a word means in general, so it works on an index of
    one article; the index's own IDF discounts words every passage shares.
    """
    from wordfreq import zipf_frequency

    words = WORD.findall(question)
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


def sentence_features(q: Question, sentences: list[Sentence]) -> list[Features]:
    """The SENTENCE_FEATURES of each sentence, by name."""
    weights = q.weights
    total = sum(weights.values()) or 1.0
    heaviest = max(weights.values(), default=1.0)
    bigrams = list(pairwise(weights))
    needed = q.kind in TYPED_KINDS
    everywhere = frozenset().union(*(s.terms for s in sentences))
    # The most specific question word that no retrieved passage has at all: a near miss.
    absent = max((w for t, w in weights.items() if t not in everywhere), default=0.0) / heaviest
    # Whether the sentence's article (as far as retrieved) leaves out a name the question asks
    # about: "What did Mark Toner say about Pakistan?" against an article never naming Pakistan.
    in_article: dict[str, frozenset[str]] = {}
    for s in sentences:
        article = s.passage.chunk.article_id
        in_article[article] = in_article.get(article, frozenset()) | s.terms
    rows = []
    for i, s in enumerate(sentences):
        near = set(s.terms)
        for j in (i - 1, i + 1):
            if 0 <= j < len(sentences) and sentences[j].passage is s.passage:
                near |= sentences[j].terms
        fresh = [c for c in candidates(s.text, q.kind) if not in_question(c, set(q.words))]
        typed = bool(fresh)
        coverage = sum(w for t, w in weights.items() if t in s.terms) / total
        first_word = s.text.split(maxsplit=1)[0].lower().strip("\"'“(") if s.text.split() else ""
        previous = sentences[i - 1] if i > 0 and sentences[i - 1].passage is s.passage else None
        anaphor = 0.0
        if previous is not None and first_word in ANAPHORS:
            gained = previous.terms - s.terms
            anaphor = sum(w for t, w in weights.items() if t in gained) / total
        rows.append(
            {
                "coverage": coverage,
                "context": sum(w for t, w in weights.items() if t in near) / total,
                "pairs": sum(1 for a, b in bigrams if a in s.terms and b in s.terms)
                / max(1, len(bigrams)),
                "typed": float(typed),
                "type_missing": float(needed and not typed),
                "dense": s.passage.dense_score or 0.0,
                "lexical": float(s.passage.lexical_rank is not None),
                "missing": max((w for t, w in weights.items() if t not in near), default=0.0)
                / heaviest,
                "missing_here": max(
                    (w for t, w in weights.items() if t not in s.terms), default=0.0
                )
                / heaviest,
                "length": min(1.0, len(s.text.split()) / 40),
                "anaphor": anaphor,
                "typed_near": float(_near_anchor(s, fresh, weights)),
                "content_missing": min(
                    1.0,
                    sum(1 for t, w in weights.items() if w >= CONTENT_WEIGHT and t not in near) / 3,
                ),
                "absent": absent,
                "name_missing": float(
                    any(not name & in_article[s.passage.chunk.article_id] for name in q.names)
                ),
            }
        )
    return rows


def _near_anchor(s: Sentence, spans: list, weights: dict[str, float]) -> bool:  # type: ignore[type-arg]
    """Whether a candidate answer sits within a few words of a matched question term."""
    if not spans:
        return False
    words = list(WORD.finditer(s.text))
    stems = tokenize([w.group() for w in words]) if words else []
    anchors = [
        w.start() for w, ts in zip(words, stems, strict=True) if any(t in weights for t in ts)
    ]
    return any(
        abs(a - span.start) <= 40 or abs(a - span.end) <= 40 for a in anchors for span in spans
    )


def final_row(first: float, reader: float, row: Features, verdict: float | None = None) -> Features:
    """FINAL_FEATURES: the first ranker's and the reader's opinions, as logits, and what of the
    sentence's own row (`row`, its SENTENCE_FEATURES) the second stage weighs beside them; and
    the reader's verdict (verdict_score), where it gives one."""
    p = min(max(first, 1e-6), 1 - 1e-6)
    return {
        "ranker": math.log(p / (1 - p)),
        "reader": reader,
        **{name: row[name] for name in _FINAL_FROM_SENTENCE},
        **({} if verdict is None else {"verdict": verdict}),
    }


def span_margin(margin: float | None) -> float:
    """A span margin as the reader's score of a sentence: clipped, and the lowest for a
    sentence with no span."""
    return -SPAN_CLIP if margin is None else max(-SPAN_CLIP, min(SPAN_CLIP, margin))


def verdict_score(verdict: float | None) -> float | None:
    """The reader's verdict on a sentence as a feature: clipped like a span margin; None where
    the reader gives none."""
    return None if verdict is None else max(-SPAN_CLIP, min(SPAN_CLIP, verdict))


def confidence_features(
    rows: Sequence[Features],
    probs: list[float],
    best: int,
    reader: dict[int, float],
    verdicts: dict[int, float] | None = None,
) -> Features:
    """CONFIDENCE_FEATURES of the chosen sentence, given the final probabilities and the
    reader's scores (span_margin) of the sentences it read; and its verdict (verdict_score),
    where `verdicts` gives the reader's."""
    second = max((p for i, p in enumerate(probs) if i != best), default=0.0)
    f = rows[best]
    others = [z for i, z in reader.items() if i != best]
    own = reader.get(best, -SPAN_CLIP)
    return {
        "best": probs[best],
        "margin": probs[best] - second,
        **{name: f[name] for name in _FROM_SENTENCE},
        "reader": own,
        "reader_margin": own - max(others, default=-SPAN_CLIP),
        **({} if verdicts is None else {"verdict": verdicts.get(best, -SPAN_CLIP)}),
    }
