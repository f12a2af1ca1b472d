"""The extractive answerer's decisions, shared with its trainer (eval/train/answerer.py): which
sentences the reader reads, how a judge turns opinions into probabilities and a confidence,
which sentences an answer quotes, and how long it may be."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache

from qa.answer.base import NOT_COVERED, Draft
from qa.answer.citations import cite
from qa.answer.features import Features, Sentence, confidence_features, final_row
from qa.answer.model import READ_TOP, Judge, Linear
from qa.text import tokenize

MAX_ANSWER_WORDS = 60
UNREAD = 1e-3  # a sentence the reader did not read ranks after every one it read


def to_read(
    first: Sequence[float],
    k: int | None = READ_TOP,
    passages: int | None = None,
    of: Sequence[object] = (),
) -> list[int]:
    """The sentences the reader reads, best first: the first ranker's best k (None: every one);
    or, given `passages`, every sentence of that many passages (`of`: each sentence's passage),
    taken in the order of their best sentences. A passage reader reads its passages whole either
    way, so the second form weighs all it reads for the same work."""
    order = sorted(range(len(first)), key=lambda i: -first[i])
    if passages is None:
        return order[:k]
    chosen = list(dict.fromkeys(of[i] for i in order))[:passages]
    return [i for i in order if of[i] in chosen]


def final_probabilities(
    final: Linear,
    first: Sequence[float],
    reader: dict[int, float],
    rows: Sequence[Features],
    verdicts: dict[int, float] | None = None,
) -> list[float]:
    """Every sentence's probability: the judge's second stage for those the reader read (its
    span margins in `reader` and verdicts in `verdicts`, where it gives them, beside what of
    each sentence's row of SENTENCE_FEATURES in `rows` the stage weighs), the first ranker's,
    far below, for the rest."""
    return [
        final(final_row(p, reader[i], rows[i], None if verdicts is None else verdicts[i]))
        if i in reader
        else p * UNREAD
        for i, p in enumerate(first)
    ]


def judge_sentences(
    judge: Judge,
    rows: Sequence[Features],
    first: Sequence[float],
    read: Sequence[int],
    margins: Sequence[float],
    verdicts: Sequence[float] | None = None,
) -> tuple[list[float], float]:
    """Every sentence's probability and the confidence in the best, given the span margins
    (features.span_margin) of the sentences the reader read, and its verdicts
    (features.verdict_score) where it gives them."""
    reader = dict(zip(read, margins, strict=True))
    said = None if verdicts is None else dict(zip(read, verdicts, strict=True))
    probs = final_probabilities(judge.final, first, reader, rows, said)
    best = max(range(len(probs)), key=lambda i: probs[i])
    return probs, judge.confidence(confidence_features(rows, probs, best, reader, said))


def pick(
    probs: Sequence[float],
    words: Sequence[int],
    second_ratio: float,
    on_topic: Sequence[bool] | None = None,
) -> list[int]:
    """The sentences an answer quotes (indices, best first): the best, and the next of the two
    after it whose probability is second_ratio of the best's, if both fit MAX_ANSWER_WORDS and,
    given on_topic, that sentence shares a term with the question (a short sentence beside the
    answer, such as an instruction planted in an article, can score high on its neighbour's
    context alone)."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    picked = order[:1]
    for i in order[1:3]:
        if (
            probs[i] >= second_ratio * probs[order[0]]
            and words[order[0]] + words[i] <= MAX_ANSWER_WORDS
            and (on_topic is None or on_topic[i])
        ):
            picked.append(i)
            break
    return picked


# "What do the articles say about the safe zone?", "How did different sources report the
# strike?": questions that ask what several articles say, not for one fact.
SURVEY = re.compile(
    r"\b(?:what|how)\s+(?:do|did|does|have|has)\s+(?:the\s+|different\s+|other\s+|various\s+)?"
    r"(?:articles?|sources|reports?|outlets|papers|newspapers|media|press|stories)\b"
    r".*\b(?:say|said|report|reported|write|written|wrote|describe|described|cover|covered)\b",
    re.IGNORECASE,
)
SURVEY_SENTENCES = 3
SURVEY_WORDS = 30  # each of a survey's sentences is clipped to this many words
# A survey quotes other articles' sentences that are at least this share as likely as the best:
# in practice, the sentences the reader read (unread ones rank UNREAD times lower).
SURVEY_RATIO = 0.05


_SURVEY_WORDS = """
    article articles say says said report reports reported source sources paper papers
    newspaper newspapers media press story stories outlet outlets different various other
    write wrote written describe described cover covered
"""


def is_survey(question: str) -> bool:
    """Whether the question asks what several articles say (SURVEY)."""
    return bool(SURVEY.search(question))


def survey_covered(question_terms: Iterable[str], sentence_terms: Iterable[str]) -> bool:
    """Whether a sentence holds every term of a survey's topic (the question's terms but those
    that ask for a survey): the articles then say something about it, whatever the judge,
    which weighs answers to one fact, makes of it."""
    topic = set(question_terms) - _survey_terms()
    return bool(topic) and topic <= set(sentence_terms)


@cache
def _survey_terms() -> frozenset[str]:
    return frozenset(tokenize([_SURVEY_WORDS])[0])


def pick_survey(
    probs: Sequence[float], articles: Sequence[str], ratio: float, limit: int = SURVEY_SENTENCES
) -> list[int]:
    """A survey's sentences (indices, best first): the best sentence of each article, for up to
    `limit` articles, while a sentence stays `ratio` as likely as the best of all."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    picked: list[int] = []
    seen: set[str] = set()
    for i in order:
        if picked and probs[i] < ratio * probs[order[0]]:
            break
        if articles[i] not in seen:
            seen.add(articles[i])
            picked.append(i)
            if len(picked) == limit:
                break
    return picked


def clip(text: str, words: int = MAX_ANSWER_WORDS) -> str:
    """At most `words` words, with an ellipsis when cut."""
    found = text.split()
    return " ".join(found[:words]) + (" …" if len(found) > words else "")


def abstain(closest: Sequence[Sentence], confidence: float) -> Draft:
    """The answer that says the articles do not answer, citing the closest passages."""
    citations = cite(list(closest))
    text = NOT_COVERED + (" The closest passages are cited." if citations else "")
    return Draft(text, None, False, confidence, citations)
