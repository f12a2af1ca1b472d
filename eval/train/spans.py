"""Fine-tunes the span reader (qa/answer/readers.py SpanReader): which words of a sentence
answer, the short answer.

    python -m eval.train.spans [--squad PATH] [--questions 16000] [--epochs 1] [--init FOLDER]

Each sampled question of the "reader" paragraphs (eval.train.common.paragraphs: SQuAD train,
never a paragraph of SQuAD dev, never one the answerer learns from) gives two examples: the
sentence holding its answer, labelled with the answer's first and last word pieces, and another
sentence of its paragraph that does not hold it, labelled with the null answer at [CLS]
("nothing here answers"); `--rivals COUNT` also teaches the answer sentence to outscore the
COUNT other sentences of its paragraph sharing most of its words (listwise_loss), and
`--article-rivals COUNT` the COUNT sentences of its article's other paragraphs that do;
`--verdict` gives the head one more output at [CLS], whether the sentence answers at all,
learned from every example by binary cross-entropy (with `--near-misses`, the near misses teach
only it). A twelfth of the paragraphs are kept for validation (at most VALID_EXAMPLES
examples): SQuAD exact match and F1 of the best span of each answer sentence, how often that
span beats the null answer, how often the null answer wins in the sentences that do not answer,
how often the answer sentence has the best span margin of its paragraph's sentences and of the
closest sentences of its article's other paragraphs, and how well the margin (and the verdict)
tell answer sentences from each kind of null answer (separations). Writes
qa/answer/weights/span_reader/ (reader.safetensors and reader.json). Commands, durations and
figures: docs/training.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any

from eval.metrics import exact_match, f1
from eval.sets import swap_act, swap_term
from eval.train.common import (
    Paragraph,
    fine_tune,
    load_init,
    paragraphs,
    reader_arguments,
    save_reader,
)
from qa.answer.readers import (
    SPAN_READER_DIR,
    ReaderConfig,
    build,
    decode_span,
    pair_batch,
    reader_logits,
    span_logits,
    word_bounds,
)
from qa.text import sentence_spans, tokenize

SEED = 7
VALID_EXAMPLES = 1200


@dataclass(frozen=True)
class Example:
    question: str
    sentence: str
    answer: tuple[int, int] | None  # character offsets into the sentence; None: null answer
    golds: tuple[str, ...]  # every annotator's answer, for scoring
    # "answer"; a null answer's: "other", "following", "same_article", "swapped",
    # "act_swapped"; or "rival"
    kind: str = "answer"
    # With --passages, `sentence` is a window of consecutive sentences: their (start, end).
    parts: tuple[tuple[int, int], ...] = ()
    # The characters of `sentence` a span may use (None: all of it): with --reads previous, the
    # last sentence of a window whose first is the sentence before it.
    reach: tuple[int, int] | None = None


@dataclass(frozen=True)
class Group:
    """A question's examples taught together (with --rivals or --article-rivals): its answer
    sentence first, its null-answer examples, and rivals: the other sentences of its paragraph,
    or of its article's other paragraphs, that share most of its words, which the answer
    sentence must outscore (listwise_loss)."""

    examples: tuple[Example, ...]


# With --near-misses, the share of questions that also give their answer sentence asked with a
# specific word swapped (a null answer): fewer than the same-article near misses, so that a
# word the sentence does not share is not taken for a missing fact (paraphrases must answer).
SWAPPED_SHARE = 0.5
# With --passages, a window of a paragraph holds at most this many characters (about 220 word
# pieces, so that it and a question fit a 256-piece pair, as a chunk of an index does).
WINDOW_CHARS = 1000
# While a training window grows, the chance at each sentence added that it stops short of the
# budget: some short windows, so that a window of any size reads the same.
WINDOW_STOP = 0.15
# The word pieces a passage reader reads at once (reader.json's max_length).
PASSAGE_LENGTH = 320
# With --verdict, the null answers that teach only the verdict, not the span logits.
VERDICT_ONLY = ("same_article", "swapped")
# How many on-topic sentences of other paragraphs of the article validation ranks each answer
# sentence against (article_rivals_of): about as many as retrieval's other passages offer.
ARTICLE_RIVALS = 5
# The null answers a "previous" reader's training questions give (after_previous).
PREVIOUS_NULLS = ("act_swapped", "following", "other", "same_article")


def window(
    spans: list[tuple[int, int]], home: int, rng: random.Random | None
) -> tuple[int, int] | None:
    """Consecutive sentences (first and last index into spans) around sentence `home` that
    fit WINDOW_CHARS, grown a sentence at a time on a random side; without rng (validation) it
    grows alternately and only stops at the budget. None when the sentence alone is longer."""
    first = last = home
    if spans[home][1] - spans[home][0] > WINDOW_CHARS:
        return None
    turn = 0
    while True:
        sides = [d for d in (-1, 1) if 0 <= (first - 1 if d < 0 else last + 1) < len(spans)]
        if not sides:
            break
        if rng is not None:
            if rng.random() < WINDOW_STOP:
                break
            side = rng.choice(sides)
        else:
            side = sides[turn % len(sides)]
            turn += 1
        a, b = (first - 1, last) if side < 0 else (first, last + 1)
        if spans[b][1] - spans[a][0] > WINDOW_CHARS:
            if rng is not None or len(sides) == 1:
                break
            # The other side may still fit.
            a, b = (first, last + 1) if side < 0 else (first - 1, last)
            if spans[b][1] - spans[a][0] > WINDOW_CHARS:
                break
        first, last = a, b
    return first, last


def passage_example(
    question: str,
    text: str,
    spans: list[tuple[int, int]],
    home: int,
    answer: tuple[int, int] | None,
    golds: tuple[str, ...],
    kind: str,
    rng: random.Random | None,
) -> Example | None:
    """A window of a paragraph (window) as an example."""
    found = window(spans, home, rng)
    if found is None:
        return None
    return _sentences(question, text, spans, *found, answer, golds, kind)


def _sentences(
    question: str,
    text: str,
    spans: list[tuple[int, int]],
    first: int,
    last: int,
    answer: tuple[int, int] | None,
    golds: tuple[str, ...],
    kind: str,
    reach_last: bool = False,
) -> Example:
    """Sentences first..last of a paragraph as one example: `answer`, paragraph offsets, moved
    into the window's; with reach_last, a span may come only from the last sentence."""
    a, b = spans[first][0], spans[last][1]
    parts = tuple((s - a, e - a) for s, e in spans[first : last + 1])
    moved = (answer[0] - a, answer[1] - a) if answer is not None else None
    return Example(
        question, text[a:b], moved, golds, kind, parts, parts[-1] if reach_last else None
    )


def examples(
    path: Path,
    questions: int,
    near_misses: float = 0.0,
    rivals: int = 0,
    passages: bool = False,
    unseen_by: Sequence[int] = (),
    previous: bool = False,
    nulls: Collection[str] = PREVIOUS_NULLS,
    article_rivals: int = 0,
) -> tuple[list[Example] | list[Group], list[Example]]:
    """(training, validation) examples from `questions` sampled questions of the reader
    paragraphs. With near_misses (a share of the questions, 0 to 1), each of those questions
    also gives a sentence of another paragraph of its Wikipedia article (the topic is there, the
    fact is not, as when a question's paragraph is not indexed) and, for SWAPPED_SHARE of them,
    its answer sentence asked with its most specific word swapped for another word of the
    article (eval.sets.swap_term), both labelled null. The questions sampled are the same
    whatever the share. With rivals (a count), each training question's examples come as one
    Group with up to that many rivals (kind "rival", not labelled: they are only ranked), so a
    batch holds whole questions; validation examples stay single, and rivals_of gives their
    rankings. The examples drawn are the same whatever the count of rivals. With
    article_rivals (a count), each Group also holds up to that many sentences of the other
    paragraphs of its Wikipedia article, free of the answer, that share most of the question's
    words: the on-topic sentences an index's other passages put before the reader, which it
    most often takes for the answer.

    With passages, the reader reads windows of consecutive sentences (window), as it reads the
    chunks of an index: the answer's window, and for its null answer a window of the other
    paragraph of its article that shares most of the question's words (kind "same_article"),
    or, for an article of one paragraph, a window of its own paragraph without the answer.

    With previous as well, each training question is read as a "previous" reader reads: its
    answer sentence after the sentence before it, and as null answers the sentence after it
    (kind "following": a span must come from the sentence read, not from its context), another
    sentence of its paragraph, and the sentence of another paragraph of the article sharing most
    of the question's words, each after the one before it; and, where the question asks of an
    act the answer sentence tells of, the answer sentence asked of an act it does not tell of
    (eval.sets.swap_act, kind "act_swapped": "who restored it" of "built by X"); nulls names
    which of those null kinds to keep (the draws are the same whichever are kept). Validation
    stays the passage windows, so that runs compare.

    unseen_by: the --questions of the earlier runs whose questions to leave out (_sample)."""
    if passages:
        return passage_examples(path, questions, unseen_by, previous, nulls)
    rng, mine, by_title, asked, held = _sample(path, questions, unseen_by)
    near_rng = random.Random(SEED + 1)
    groups: list[Group] = []
    train: list[Example] = []
    valid: list[Example] = []
    answers = {"train": 0, "valid": 0}
    for n, qa in asked:
        into = valid if n in held else train
        part = "valid" if into is valid else "train"
        if answers[part] >= (VALID_EXAMPLES // 2 if into is valid else questions):
            continue
        text = mine[n].text
        spans = sentence_spans(text)
        golds, (a, b), at = _answer(qa, spans)
        if at is None:  # the answer runs across sentences
            continue
        home = spans[at]
        question = qa["question"].strip()
        sentence = text[home[0] : home[1]]
        begun = len(into)
        into.append(Example(question, sentence, (a - home[0], b - home[0]), golds))
        answers[part] += 1
        others = [(s, e) for s, e in spans if not any(g in text[s:e] for g in golds)]
        if others:
            s, e = rng.choice(others)
            into.append(Example(question, text[s:e], None, golds, "other"))
            others.remove((s, e))
        if near_misses and near_rng.random() < near_misses:
            siblings = [mine[m].text for m in by_title[mine[n].title] if m != n]
            into.extend(_near_misses(question, sentence, golds, siblings, near_rng))
        if (rivals or article_rivals) and into is train:
            found = [
                Example(question, t, None, golds, "rival")
                for t in _rivals(question, [text[s:e] for s, e in others], rivals)
                + _article_rivals(question, golds, n, mine, by_title, article_rivals)
            ]
            groups.append(Group((*train[begun:], *found)))
            del train[begun:]
    return (groups if rivals or article_rivals else train), valid


def _sample(
    path: Path, questions: int, unseen_by: Sequence[int] = ()
) -> tuple[random.Random, list[Paragraph], dict[str, list[int]], list[tuple[int, dict]], set[int]]:  # type: ignore[type-arg]
    """What both kinds of examples draw from: the seeded random source (which goes on to make
    each question's choices), the reader paragraphs, their indices by article title, the
    sampled (paragraph index, question) pairs with room for the validation ones, and the
    paragraphs held out for validation (a twelfth).

    unseen_by: the --questions of earlier runs (warm starts go on from their weights); the
    questions those runs trained on (the first that many of their draws outside the validation
    paragraphs whose answer lies in one sentence, as examples() takes them; passage_examples()
    also skips an answer sentence too long for a window, so after a passage run a few of the
    questions left out were not read) are left out of the training sample, so the run reads only
    questions they did not. The validation paragraphs are the same either way."""
    rng = random.Random(SEED)
    mine = _reader_paragraphs(path)

    def held_out(source: random.Random) -> set[int]:
        return {n for n in range(len(mine)) if source.random() < 1 / 12}

    Asked = list[tuple[int, dict]]  # type: ignore[type-arg]

    def drawn(source: random.Random, pool: Asked, count: int) -> Asked:
        return source.sample(pool, min(count + 4 * VALID_EXAMPLES, len(pool)))

    held = held_out(rng)
    by_title: dict[str, list[int]] = {}
    for n, p in enumerate(mine):
        by_title.setdefault(p.title, []).append(n)
    asked = [(n, qa) for n in range(len(mine)) for qa in mine[n].qas]
    seen: set[tuple[int, str]] = set()
    for earlier in unseen_by:  # each earlier run's draws, made again from the same seed
        again = random.Random(SEED)
        held_out(again)
        trained = (
            (n, qa)
            for n, qa in drawn(again, asked, earlier)
            if n not in held and _answer(qa, sentence_spans(mine[n].text))[2] is not None
        )
        seen.update((n, qa["id"]) for n, qa in islice(trained, earlier))
    pool = [(n, qa) for n, qa in asked if (n, qa["id"]) not in seen]
    return rng, mine, by_title, drawn(rng, pool, questions), held


def _answer(
    qa: dict,
    spans: list[tuple[int, int]],  # type: ignore[type-arg]
) -> tuple[tuple[str, ...], tuple[int, int], int | None]:
    """A question's gold answers, its first answer's character offsets in the paragraph, and
    the index of the sentence (of spans) holding it; None when it runs across sentences."""
    golds = tuple(a["text"] for a in qa["answers"])
    first = qa["answers"][0]
    a, b = first["answer_start"], first["answer_start"] + len(first["text"])
    home = next((k for k, (s, e) in enumerate(spans) if s <= a and b <= e), None)
    return golds, (a, b), home


def passage_examples(
    path: Path,
    questions: int,
    unseen_by: Sequence[int] = (),
    previous: bool = False,
    nulls: Collection[str] = PREVIOUS_NULLS,
) -> tuple[list[Example], list[Example]]:
    """examples(passages=True): the same questions as examples() samples, each read in a
    window of its paragraph, with a null-answer window; with previous, the training questions
    read after the sentence before (see examples)."""
    rng, mine, by_title, asked, held = _sample(path, questions, unseen_by)
    act_rng = random.Random(SEED + 2)  # its own source: the other draws stay as they were
    train: list[Example] = []
    valid: list[Example] = []
    answers = {"train": 0, "valid": 0}
    for n, qa in asked:
        into = valid if n in held else train
        part = "valid" if into is valid else "train"
        if answers[part] >= (VALID_EXAMPLES // 2 if into is valid else questions):
            continue
        shape = None if into is valid else rng  # validation reads the widest window
        text = mine[n].text
        spans = sentence_spans(text)
        golds, (a, b), home = _answer(qa, spans)
        if home is None:  # the answer runs across sentences
            continue
        question = qa["question"].strip()
        if previous and into is train:
            read = after_previous(
                question, text, spans, home, (a, b), golds, mine, by_title, n, rng, act_rng
            )
            read = [r for r in read if r.kind == "answer" or r.kind in nulls]
            train.extend(read)
            answers[part] += bool(read)
            continue
        found = passage_example(question, text, spans, home, (a, b), golds, "answer", shape)
        if found is None:
            continue
        into.append(found)
        answers[part] += 1
        null = _null_window(question, golds, n, mine, by_title, shape)
        if null is not None:
            into.append(null)
    return train, valid


def previous_example(
    question: str,
    text: str,
    spans: list[tuple[int, int]],
    at: int,
    answer: tuple[int, int] | None,
    golds: tuple[str, ...],
    kind: str,
) -> Example:
    """Sentence `at` of a paragraph after the sentence before it (alone when it is the
    first), its span to come from it."""
    return _sentences(question, text, spans, max(0, at - 1), at, answer, golds, kind, True)


def after_previous(
    question: str,
    text: str,
    spans: list[tuple[int, int]],
    home: int,
    answer: tuple[int, int],
    golds: tuple[str, ...],
    mine: list[Paragraph],
    by_title: dict[str, list[int]],
    n: int,
    rng: random.Random,
    act_rng: random.Random,
) -> list[Example]:
    """A training question read as a "previous" reader reads (see examples): its answer
    sentence, the sentence after it, another sentence of its paragraph and the closest sentence
    of another paragraph of the article, each after the sentence before it, and the answer
    sentence asked of another act (swap_act; drawn from act_rng). Empty when the answer sentence
    and the one before it are longer than a window."""
    if spans[home][1] - spans[max(0, home - 1)][0] > WINDOW_CHARS:
        return []
    read = [previous_example(question, text, spans, home, answer, golds, "answer")]
    elsewhere = [mine[m].text for m in by_title[mine[n].title] if m != n]
    seen = text[spans[max(0, home - 1)][0] : spans[home][1]]
    act = swap_act(question, seen, elsewhere, act_rng)
    if act is not None:
        read.append(previous_example(act, text, spans, home, None, golds, "act_swapped"))
    others = [
        k
        for k, (s, e) in enumerate(spans)
        if k != home
        and not any(g in text[s:e] for g in golds)
        and e - spans[max(0, k - 1)][0] <= WINDOW_CHARS
    ]
    # The hardest null answer: the answer is in the context just read, and the sentence read
    # has the words around it, often a rival of the asked type ("built by the engineer X" after
    # "volunteers restored it", for who restored it).
    if home + 1 in others:
        read.append(previous_example(question, text, spans, home + 1, None, golds, "following"))
        others.remove(home + 1)
    if others:
        k = rng.choice(others)
        read.append(previous_example(question, text, spans, k, None, golds, "other"))
    best = _closest_elsewhere(question, golds, n, mine, by_title)
    if best is not None:
        other, near, k = best
        if near[k][1] - near[max(0, k - 1)][0] <= WINDOW_CHARS:
            read.append(previous_example(question, other, near, k, None, golds, "same_article"))
    return read


def _closest_elsewhere(
    question: str,
    golds: tuple[str, ...],
    n: int,
    mine: list[Paragraph],
    by_title: dict[str, list[int]],
) -> tuple[str, list[tuple[int, int]], int] | None:
    """The sentence of another paragraph of paragraph n's article, free of every gold answer,
    that shares most of the question's stemmed terms (the first of ties): its paragraph's text,
    sentence spans and index. None when the article has no such paragraph."""
    asked = set(tokenize([question])[0])
    best: tuple[int, int, int] | None = None
    for m in by_title[mine[n].title]:
        if m == n or any(g in mine[m].text for g in golds):
            continue
        for k, (_, terms) in enumerate(_terms(mine[m].text)):
            if best is None or len(asked & terms) > best[0]:
                best = (len(asked & terms), m, k)
    if best is None:
        return None
    _, m, k = best
    return mine[m].text, sentence_spans(mine[m].text), k


def _null_window(
    question: str,
    golds: tuple[str, ...],
    n: int,
    mine: list[Paragraph],
    by_title: dict[str, list[int]],
    rng: random.Random | None,
) -> Example | None:
    """A window that does not answer (see examples): around the sentence of another
    paragraph of the article sharing most of the question's words, or, where the article has
    no other paragraph free of the answer, the first window of its own paragraph that holds no
    gold answer; None when there is neither."""
    best = _closest_elsewhere(question, golds, n, mine, by_title)
    if best is not None:
        text, spans, home = best
        return passage_example(question, text, spans, home, None, golds, "same_article", rng)
    text = mine[n].text
    spans = sentence_spans(text)
    free = [k for k, (s, e) in enumerate(spans) if not any(g in text[s:e] for g in golds)]
    for k in free:
        found = passage_example(question, text, spans, k, None, golds, "other", rng)
        if found is not None and not any(g in found.sentence for g in golds):
            return found
    return None


@cache
def _reader_paragraphs(path: Path) -> list[Paragraph]:
    """The span reader's paragraphs of a SQuAD file, read (and checked against SQuAD dev) once
    a process: examples and rivals_of both need them."""
    return [p for p in paragraphs(path) if p.part == "reader"]


def _rivals(question: str, sentences: list[str], count: int) -> list[str]:
    """The `count` sentences sharing most of the question's stemmed terms, most first (ties in
    their order): the ones a reader most easily takes for the answer."""
    asked = set(tokenize([question])[0])
    shared = [len(asked & set(terms)) for terms in tokenize(sentences)] if sentences else []
    order = sorted(range(len(sentences)), key=lambda i: -shared[i])
    return [sentences[i] for i in order[:count]]


def _article_rivals(
    question: str,
    golds: tuple[str, ...],
    n: int,
    mine: list[Paragraph],
    by_title: dict[str, list[int]],
    count: int,
) -> list[str]:
    """The `count` sentences of the other paragraphs of paragraph n's article, free of every
    gold answer, that share most of the question's stemmed terms, most first (ties in their
    order)."""
    if count <= 0:
        return []
    asked = set(tokenize([question])[0])
    elsewhere = [
        (len(asked & terms), text)
        for m in by_title[mine[n].title]
        if m != n
        for text, terms in _terms(mine[m].text)
        if not any(g in text for g in golds)
    ]
    order = sorted(range(len(elsewhere)), key=lambda i: -elsewhere[i][0])
    return [elsewhere[i][1] for i in order[:count]]


def article_rivals_of(
    valid: list[Example], path: Path, count: int = ARTICLE_RIVALS
) -> list[list[Example]]:
    """Per validation answer sentence: it first, then the `count` sentences of the other
    paragraphs of its article that share most of the question's words (_article_rivals), to
    measure how often the reader puts the answer sentence before the on-topic sentences that
    retrieval brings beside it."""
    mine = _reader_paragraphs(path)
    by_title: dict[str, list[int]] = {}
    home: dict[str, int] = {}
    for n, p in enumerate(mine):
        by_title.setdefault(p.title, []).append(n)
        for s, e in sentence_spans(p.text):
            home.setdefault(p.text[s:e], n)
    lists = []
    for row in valid:
        at = home.get(row.sentence) if row.answer is not None else None
        if at is None:
            continue
        found = _article_rivals(row.question, row.golds, at, mine, by_title, count)
        if found:
            rivals = [Example(row.question, t, None, row.golds, "rival") for t in found]
            lists.append([row, *rivals])
    return lists


def rivals_of(valid: list[Example], path: Path) -> list[list[Example]]:
    """Per validation answer sentence: it first, then every other sentence of its paragraph
    (as rivals), to measure how often the reader puts the answer sentence first."""
    texts = {p.text for p in _reader_paragraphs(path)}
    by_sentence: dict[str, str] = {}
    for text in texts:
        for s, e in sentence_spans(text):
            by_sentence.setdefault(text[s:e], text)
    lists = []
    for row in valid:
        paragraph = by_sentence.get(row.sentence) if row.answer is not None else None
        if paragraph is None:
            continue
        rest = [
            Example(row.question, paragraph[s:e], None, row.golds, "rival")
            for s, e in sentence_spans(paragraph)
            if paragraph[s:e] != row.sentence and not any(g in paragraph[s:e] for g in row.golds)
        ]
        if rest:
            lists.append([row, *rest])
    return lists


@cache
def _terms(paragraph: str) -> list[tuple[str, frozenset[str]]]:
    """A paragraph's sentences with their stemmed terms."""
    texts = [paragraph[s:e] for s, e in sentence_spans(paragraph)]
    return [(t, frozenset(terms)) for t, terms in zip(texts, tokenize(texts), strict=True)]


def _near_misses(
    question: str,
    sentence: str,
    golds: tuple[str, ...],
    siblings: list[str],
    rng: random.Random,
) -> list[Example]:
    """A question's null-answer near misses (see examples), from the other paragraphs of its
    article."""
    found = []
    elsewhere = [
        (text, terms)
        for paragraph in siblings
        for text, terms in _terms(paragraph)
        if not any(g in text for g in golds)
    ]
    if elsewhere:
        # The one sharing most of the question's words: on topic, close in wording, no fact.
        asked = set(tokenize([question])[0])
        closest = max(len(asked & terms) for _, terms in elsewhere)
        pick = rng.choice([text for text, terms in elsewhere if len(asked & terms) == closest])
        found.append(Example(question, pick, None, golds, "same_article"))
    if rng.random() < SWAPPED_SHARE:
        swapped = swap_term(question, sentence, [text for text, _ in elsewhere], rng)
        if swapped:
            found.append(Example(swapped, sentence, None, golds, "swapped"))
    return found


def encode(tokenizer, config: ReaderConfig, rows: list[Example]):  # type: ignore[no-untyped-def]
    """The batch, the tokens a span may use ([CLS] and the sentence's), and the gold start and
    end tokens (0, the [CLS], for the null answer and for answers truncation cut off)."""
    import torch

    batch, offsets = pair_batch(
        tokenizer,
        [r.question for r in rows],
        [r.sentence for r in rows],
        config.max_length,
    )
    allowed = torch.zeros(batch["input_ids"].shape, dtype=torch.bool)
    starts, ends = [], []
    for k, row in enumerate(rows):
        ids = batch.sequence_ids(k)
        mine = [t for t, s in enumerate(ids) if s == 1]
        if row.reach is not None:
            lo, hi = row.reach
            mine = [t for t in mine if offsets[k][t][0] >= lo and 0 < offsets[k][t][1] <= hi]
        allowed[k, mine] = True
        allowed[k, 0] = True
        start = end = 0
        if row.answer is not None:
            a, b = row.answer
            inside = [t for t in mine if offsets[k][t][0] < b and offsets[k][t][1] > a]
            if inside and offsets[k][inside[-1]][1] >= b:
                start, end = inside[0], inside[-1]
        starts.append(start)
        ends.append(end)
    return batch, offsets, allowed, torch.tensor(starts), torch.tensor(ends)


def margins(starts, ends, allowed):  # type: ignore[no-untyped-def]
    """Each row's best start and best end logit over its sentence's tokens, less the null
    answer's: how far the reader's best words beat "no words here answer" (the i <= j order of
    a span left out, so that it stays differentiable and cheap)."""
    words = allowed.clone()
    words[:, 0] = False
    best_start = starts.masked_fill(~words, -1e4).max(dim=1).values
    best_end = ends.masked_fill(~words, -1e4).max(dim=1).values
    return best_start + best_end - starts[:, 0] - ends[:, 0]


def ranked_first(
    tokenizer, encoder, head, config: ReaderConfig, lists: list[list[Example]]
) -> float:  # type: ignore[no-untyped-def]
    """How often the answer sentence (each list's first) has the best span margin of its
    paragraph's sentences."""
    import torch

    rows = [row for group in lists for row in group]
    scores: list[float] = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        for i in range(0, len(rows), 32):
            batch, _, allowed, _, _ = encode(tokenizer, config, rows[i : i + 32])
            starts, ends = span_logits(encoder, head, batch)
            scores.extend(margins(starts.float(), ends.float(), allowed).tolist())
    first, at = 0, 0
    for group in lists:
        mine = scores[at : at + len(group)]
        first += mine[0] > max(mine[1:])
        at += len(group)
    return round(first / max(1, len(lists)), 4)


def in_context_first(
    tokenizer, encoder, head, config: ReaderConfig, valid: list[Example]
) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """For the validation windows (--passages) of two or more sentences that answer: how
    often the sentence holding the answer has the best span margin among the window's
    sentences, each sentence's margin that of its best span inside it, when the window is read
    whole ("in_context", as a passage reader reads), each sentence after the one before it
    ("after_previous", as a "previous" reader reads) and each sentence alone ("alone", as a
    sentence reader reads); and by the mean of the last two margins ("both", as a "both"
    reader reads)."""
    import torch

    rows = [r for r in valid if r.answer is not None and len(r.parts) > 1]
    readings = {
        "in_context": lambda parts, j: (parts[0][0], parts[-1][1]),
        "after_previous": lambda parts, j: (parts[max(0, j - 1)][0], parts[j][1]),
        "alone": lambda parts, j: parts[j],
    }
    first = {}
    margins: dict[str, list[float]] = {}
    for name, reach in readings.items():
        # What this reading reads for each sentence of each window: (row, sentence, from,
        # to); a window read for several sentences is read once.
        items = [
            (n, j, *reach(row.parts, j))
            for n, row in enumerate(rows)
            for j in range(len(row.parts))
        ]
        distinct = list(dict.fromkeys((n, f, t) for n, _, f, t in items))
        read: dict[tuple[int, int, int], tuple[Any, Any, Any, Any]] = {}
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            for i in range(0, len(distinct), 32):
                part = distinct[i : i + 32]
                texts = [
                    Example(rows[n].question, rows[n].sentence[f:t], None, ()) for n, f, t in part
                ]
                batch, offsets, allowed, _, _ = encode(tokenizer, config, texts)
                starts, ends = span_logits(encoder, head, batch)
                for k, (n, f, t) in enumerate(part):
                    pieces = torch.tensor(offsets[k])
                    words = allowed[k] & (pieces[:, 1] > 0)  # not [CLS]
                    read[(n, f, t)] = (starts[k].float(), ends[k].float(), words, pieces + f)
        found: list[float] = []
        for n, j, f, t in items:
            starts, ends, words, spans = read[(n, f, t)]
            a, b = rows[n].parts[j]
            best = decode_span(starts, ends, words & (spans[:, 0] >= a) & (spans[:, 1] <= b))
            found.append(best[2] if best else float("-inf"))
        margins[name] = found
    margins["both"] = [
        (a + b) / 2 for a, b in zip(margins["after_previous"], margins["alone"], strict=True)
    ]
    for name, found in margins.items():
        hits = at = 0
        for row in rows:
            mine = found[at : at + len(row.parts)]
            at += len(row.parts)
            home = next(n for n, (a, b) in enumerate(row.parts) if a <= row.answer[0] < b)  # type: ignore[index]
            hits += max(range(len(mine)), key=mine.__getitem__) == home
        first[f"answer_sentence_first_{name}"] = round(hits / max(1, len(rows)), 4)
    return {**first, "windows_ranked": len(rows)}


def evaluate(  # type: ignore[no-untyped-def]
    tokenizer, encoder, head, config: ReaderConfig, valid: list[Example], lists=None, article=None
) -> dict:  # type: ignore[type-arg]
    """Validation figures (see the module docstring); given `lists` (rivals_of), also how
    often the answer sentence is ranked first in its paragraph, and given `article`
    (article_rivals_of), how often before the closest sentences of its article's other
    paragraphs."""
    import torch

    encoder.eval()
    ranking = (
        {"answer_sentence_first": ranked_first(tokenizer, encoder, head, config, lists)}
        if lists
        else {}
    )
    if article:
        ranking["answer_sentence_first_in_article"] = ranked_first(
            tokenizer, encoder, head, config, article
        )
    if any(r.parts for r in valid):
        ranking |= in_context_first(tokenizer, encoder, head, config, valid)
    em = em_given = f1s = given = n_pos = 0.0
    null_right: dict[str, int] = {}
    n_null: dict[str, int] = {}
    scored: dict[str, list[tuple[float, float | None]]] = {}  # kind: (margin, verdict) a row
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        for i in range(0, len(valid), 32):
            rows = valid[i : i + 32]
            batch, offsets, allowed, _, _ = encode(tokenizer, config, rows)
            starts, ends, verdicts = reader_logits(encoder, head, batch)
            for k, row in enumerate(rows):
                mine = allowed[k].clone()
                mine[0] = False
                best = decode_span(starts[k].float(), ends[k].float(), mine)
                text, margin = "", -1.0
                if best:
                    t0, t1, margin = best
                    a, b = word_bounds(row.sentence, offsets[k][t0][0], offsets[k][t1][1])
                    text = row.sentence[a:b]
                verdict = None if verdicts is None else float(verdicts[k])
                scored.setdefault(row.kind, []).append((margin, verdict))
                if row.answer is None:
                    n_null[row.kind] = n_null.get(row.kind, 0) + 1
                    null_right[row.kind] = null_right.get(row.kind, 0) + (margin <= 0)
                    continue
                n_pos += 1
                em += exact_match(text, row.golds)
                f1s += f1(text, row.golds)
                if margin > 0:
                    given += 1
                    em_given += exact_match(text, row.golds)
    encoder.train()
    return {
        **ranking,
        "exact_match": round(em / n_pos, 4),
        "f1": round(f1s / n_pos, 4),
        "answer_sentences_given_a_span": round(given / n_pos, 4),
        "exact_match_when_given": round(em_given / max(1, given), 4),
        "other_sentences_given_none": round(
            null_right.get("other", 0) / max(1, n_null.get("other", 0)), 4
        ),
        **{
            f"{kind}_given_none": round(null_right[kind] / n_null[kind], 4)
            for kind in ("same_article", "swapped")
            if n_null.get(kind)
        },
        **separations(scored),
    }


def separations(scored: dict[str, list[tuple[float, float | None]]]) -> dict[str, float]:
    """How well the span margin, and the verdict where the reader gives one, tell answer
    sentences from each kind of null answer: the area under the ROC curve (the chance that an
    answer sentence outscores a null one, ties counting half), and for the verdict the share
    of each kind on the right side of zero."""
    found: dict[str, float] = {}
    answers = scored.get("answer", [])
    for kind, rows in sorted(scored.items()):
        if kind == "answer" or not answers:
            continue
        found[f"{kind}_margin_auc"] = round(_auc([m for m, _ in answers], [m for m, _ in rows]), 4)
        if answers[0][1] is not None:
            mine = [v for _, v in answers if v is not None]
            theirs = [v for _, v in rows if v is not None]
            found[f"{kind}_verdict_auc"] = round(_auc(mine, theirs), 4)
            found[f"{kind}_verdict_no"] = round(sum(v <= 0 for v in theirs) / len(theirs), 4)
    if answers and answers[0][1] is not None:
        found["answer_verdict_yes"] = round(
            sum(v is not None and v > 0 for _, v in answers) / len(answers), 4
        )
    return found


def _auc(positive: list[float], negative: list[float]) -> float:
    """The chance a positive score beats a negative one, ties counting half."""
    if not positive or not negative:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def listwise_loss(scores, sizes: list[int], rows: list[Example]):  # type: ignore[no-untyped-def]
    """Per group (sizes: how many rows each holds, in order), the cross-entropy of the answer
    sentence (the group's first row) among itself and the group's rivals, by span margin: the
    reader learns to put the sentence that answers above those that only share its words."""
    import torch

    losses, at = [], 0
    for size in sizes:
        mine = [at + k for k in range(size) if k == 0 or rows[at + k].kind == "rival"]
        at += size
        if len(mine) > 1:
            losses.append(torch.nn.functional.cross_entropy(scores[mine][None], torch.tensor([0])))
    return torch.stack(losses).mean() if losses else scores.sum() * 0.0


def _characters(item: Example | Group) -> int:
    """An item's length in characters (what its word pieces grow with): fine_tune's `size`."""
    rows = item.examples if isinstance(item, Group) else (item,)
    return sum(len(r.question) + len(r.sentence) for r in rows)


def train(args: argparse.Namespace, config: ReaderConfig) -> dict:  # type: ignore[type-arg]
    import torch

    torch.manual_seed(SEED)
    tokenizer, encoder, head = build(config)
    if args.init:
        load_init(encoder, head, args.init)
    data, valid = examples(
        args.squad,
        args.questions,
        args.near_misses,
        args.rivals,
        args.passages,
        args.unseen_by,
        previous=args.passages and args.reads == "previous",
        nulls=args.nulls,
        article_rivals=args.article_rivals,
    )
    lists = [] if args.passages else rivals_of(valid, args.squad)
    article = [] if args.passages else article_rivals_of(valid, args.squad)
    print(f"{len(data)} training items, {len(valid)} validation", file=sys.stderr)
    loss_fn = torch.nn.CrossEntropyLoss()
    verdict_loss = torch.nn.BCEWithLogitsLoss()

    def loss_of(items: list[Example | Group]) -> Any:
        groups = [g.examples for g in items if isinstance(g, Group)]
        rows = [r for g in groups for r in g] + [r for r in items if isinstance(r, Example)]
        batch, _, allowed, start, end = encode(tokenizer, config, rows)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            starts, ends, verdicts = reader_logits(encoder, head, batch)
        starts, ends = starts.float(), ends.float()
        labelled = torch.tensor([r.kind != "rival" for r in rows])
        # With a verdict, near misses teach the verdict alone: the span logits learn null
        # answers only from the other sentences of the paragraph, as without near misses.
        spanned = labelled & torch.tensor(
            [verdicts is None or r.kind not in VERDICT_ONLY for r in rows]
        )
        span = (
            loss_fn(starts.masked_fill(~allowed, -1e4)[spanned], start[spanned])
            + loss_fn(ends.masked_fill(~allowed, -1e4)[spanned], end[spanned])
        ) / 2
        if verdicts is not None:
            answers = torch.tensor([float(r.kind == "answer") for r in rows])
            span = span + args.verdict_weight * verdict_loss(
                verdicts.float()[labelled], answers[labelled]
            )
        if not groups:
            return span
        return span + args.rival_weight * listwise_loss(
            margins(starts, ends, allowed), [len(g) for g in groups], rows
        )

    history, seconds = fine_tune(
        encoder,
        head,
        data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=SEED,
        loss_of=loss_of,
        check=lambda: evaluate(tokenizer, encoder, head, config, valid, lists, article),
        checkpoint=args.checkpoint,
        check_before=args.init is not None,  # a warm start: what the run starts from
        size=_characters if args.group_by_length else None,
    )
    return {
        "encoder": encoder,
        "head": head,
        "history": history,
        "examples": len(data),
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = reader_arguments(
        __doc__.splitlines()[0], questions=16000, batch_size=16, out=SPAN_READER_DIR
    )
    parser.add_argument(
        "--near-misses",
        type=float,
        nargs="?",
        const=1.0,
        default=0.0,
        metavar="SHARE",
        help="Also learn null answers from near misses, for SHARE of the questions (1 if no "
        "share is given): another paragraph's sentence of the same article, and the answer "
        "sentence asked with a word swapped.",
    )
    parser.add_argument(
        "--rivals",
        type=int,
        default=0,
        metavar="COUNT",
        help="Also teach each question's answer sentence to outscore up to COUNT other "
        "sentences of its paragraph that share most of its words (a listwise loss).",
    )
    parser.add_argument(
        "--article-rivals",
        type=int,
        default=0,
        metavar="COUNT",
        help="Also teach each question's answer sentence to outscore up to COUNT sentences of "
        "the other paragraphs of its article that share most of its words (the on-topic "
        "sentences retrieval puts beside it), in the same listwise loss.",
    )
    parser.add_argument(
        "--rival-weight", type=float, default=1.0, help="The listwise loss's weight."
    )
    parser.add_argument(
        "--passages",
        action="store_true",
        help="Read windows of consecutive sentences (as an index's chunks), not single "
        "sentences: give it --max-length 256.",
    )
    parser.add_argument(
        "--unseen-by",
        type=int,
        nargs="+",
        default=[],
        metavar="QUESTIONS",
        help="Leave out the questions that earlier runs of these --questions trained on (the "
        "runs the --init reader came from), so this run reads only questions they did not.",
    )
    parser.add_argument(
        "--reads",
        choices=["passage", "previous"],
        default="passage",
        help="With --passages, how the reader reads an index's chunks (reader.json): each chunk "
        "whole, or each sentence after the one before it, which it then also trains on "
        "(validation reads the same passage windows either way).",
    )
    parser.add_argument(
        "--nulls",
        nargs="+",
        choices=PREVIOUS_NULLS,
        default=list(PREVIOUS_NULLS),
        help="With --reads previous, the null answers each training question gives (all by "
        "default; see examples()).",
    )
    parser.add_argument(
        "--verdict",
        action="store_true",
        help="Give the reader a verdict: one more output, at [CLS], of whether the sentence "
        "answers at all, learned from every example; with --near-misses, the near misses "
        "teach the verdict only, not the span logits.",
    )
    parser.add_argument(
        "--verdict-weight", type=float, default=1.0, help="The verdict loss's weight."
    )
    parser.add_argument(
        "--group-by-length",
        action="store_true",
        help="Batch examples of about the same length together (less padding: --passages "
        "windows took about a fifth less time a step).",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.near_misses <= 1:
        parser.error(f"--near-misses takes a share from 0 to 1, got {args.near_misses}")
    given = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.reads == "previous" and not args.passages:
        parser.error("--reads previous reads windows of a paragraph: give --passages too")
    reads = args.reads if args.passages else "sentence"
    config = ReaderConfig(args.base, args.layers, args.max_length, "span", reads, args.verdict)
    result = train(args, config)
    trained_on = {
        "data": f"SQuAD v1.1 train ({args.squad.name}), the 'reader' paragraphs of "
        "eval.train.common.paragraphs",
        "examples": result["examples"],
        "near_misses": args.near_misses,
        "rivals": args.rivals,
        "article_rivals": args.article_rivals,
        "rival_weight": args.rival_weight,
        "verdict_weight": args.verdict_weight if args.verdict else None,
        "passages": args.passages,
        "unseen_by": args.unseen_by,
        "nulls": args.nulls if reads == "previous" else None,
        "group_by_length": args.group_by_length,
        "epochs": args.epochs,
        "init": str(args.init) if args.init else None,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "seconds": result["seconds"],
        "validation": result["history"],
        "command": " ".join(["python -m eval.train.spans", *given]),
    }
    # A passage reader reads whole chunks of an index: its window is set to hold the longest
    # chunk (qa.ingest, up to 254 word pieces) with a question, though it trained on shorter.
    reading = replace(config, max_length=max(config.max_length, PASSAGE_LENGTH))
    save_reader(
        result["encoder"],
        result["head"],
        reading if args.passages else config,
        args.out,
        trained_on,
    )
    print(json.dumps(result["history"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
