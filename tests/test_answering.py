"""The extractive answerer, follow-ups and the citation check, on the real model and index."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from eval.metrics import f1
from qa.answer.base import SpanFinder
from qa.answer.candidates import best_span, question_kind
from qa.answer.citations import verify_citations
from qa.answer.decisions import READ_TOP
from qa.answer.extractive import ExtractiveAnswerer
from qa.answer.features import (
    CONFIDENCE_FEATURES,
    FINAL_FEATURES,
    SENTENCE_FEATURES,
    SPAN_CLIP,
    InPassage,
    Question,
    confidence_features,
    final_row,
    name_phrases,
    sentence_features,
    sentences_of,
)
from qa.answer.model import load_model
from qa.answer.readers import Found, load_span_reader
from qa.chat import standalone_question
from qa.errors import CitationError, IndexEmpty, InvalidRequest
from qa.service import Service
from qa.types import Answer, Citation, Turn

SEED = "us-says-civilian-deaths-unintended"


@pytest.mark.parametrize(
    ("question", "short", "passage"),
    [
        ("Who denied awareness of the airstrikes?", "Mark Toner", "not aware"),
        ("Which air base did the F-16 jets fly from?", "Incirlik Air Base", "Incirlik Air Base"),
        ("Which province is Incirlik Air Base in?", "Adana", "Adana province"),
        ("Who restored the Karsvik lighthouse?", "forty volunteers", "forty volunteers"),
        ("How many moves did the chess final last?", "94", "94 moves"),
    ],
)
def test_answers_cite_the_passage_that_says_it(
    indexed: Service, question: str, short: str, passage: str
) -> None:
    answer = indexed.ask(question)
    assert answer.answered, answer
    assert passage in answer.citations[0].quote
    assert "[1]" in answer.answer and len(answer.answer.split()) <= 70
    # The span reader's short answer: the words that answer ("Incirlik" for "which air base"
    # counts, as in SQuAD's F1), found in a cited sentence.
    assert answer.short_answer and f1(answer.short_answer, [short]) >= 0.5, answer.short_answer
    assert any(answer.short_answer in c.quote for c in answer.citations)
    for c in answer.citations:
        assert indexed.article(c.article_id)[1][c.start : c.end] == c.quote


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2015 Champions League final?",
        "What is the boiling point of liquid nitrogen?",
    ],
)
def test_abstains_when_the_articles_do_not_say(indexed: Service, question: str) -> None:
    answer = indexed.ask(question)
    assert not answer.answered
    assert answer.answer.startswith("The articles don't say")
    assert answer.short_answer is None
    assert answer.confidence < 0.5


def test_confidence_is_higher_for_answerable_questions(indexed: Service) -> None:
    good = indexed.ask("Which province is Incirlik Air Base in?").confidence
    bad = indexed.ask("What is the price of a barrel of oil?").confidence
    assert good > bad


class Counting:
    """Passes the real span reader through, counting the calls and the sentences it reads."""

    def __init__(self, spans: SpanFinder) -> None:
        self.spans, self.calls, self.sentences = spans, 0, 0

    def find(self, question: str, sentences: Sequence[str]) -> Sequence[Found | None]:
        self.calls += 1
        self.sentences += len(sentences)
        return self.spans.find(question, sentences)

    def read(self, question: str, items: Sequence[InPassage]) -> Sequence[Found | None]:
        self.calls += 1
        self.sentences += len(items)
        return self.spans.read(question, items)


def test_one_pass_ranks_weighs_and_finds_the_short_answer(indexed: Service) -> None:
    """The span reader reads the ranker's best few sentences once: their margins rank them and
    weigh in the confidence, and the chosen one's span is the short answer, with no second
    pass."""
    reader = Counting(load_span_reader())
    answerer = ExtractiveAnswerer(spans=reader)
    question = "Which province is Incirlik Air Base in?"
    passages = indexed.search(question)
    draft = answerer.answer(question, passages, indexed.term_weight)
    assert draft.answered and draft.short_answer and "Adana" in draft.short_answer, draft
    read_top = load_model().judge.read_top or READ_TOP
    assert len(sentences_of(passages)) > read_top
    assert (reader.calls, reader.sentences) == (1, read_top)


@pytest.mark.parametrize("read_top", [2, None])
def test_the_reader_reads_as_many_sentences_as_the_judge_was_fitted_on(
    indexed: Service, read_top: int | None
) -> None:
    """An answer model fitted for a passage reader may read every sentence of the passages
    (read_top None), since such a reader reads each chunk whole anyway."""
    from dataclasses import replace

    model = load_model()
    model = replace(model, judge=replace(model.judge, read_top=read_top))
    reader = Counting(load_span_reader())
    answerer = ExtractiveAnswerer(model=model, spans=reader)
    question = "Which air base did the F-16 jets fly from?"
    passages = indexed.search(question)
    answerer.answer(question, passages, indexed.term_weight)
    assert reader.sentences == (read_top or len(sentences_of(passages)))


def test_a_judge_fitted_on_whole_passages_reads_every_sentence_of_its_best_few(
    indexed: Service,
) -> None:
    """read_passages C: the reader reads every sentence of the C passages whose best sentences
    the first ranker ranks highest, and no sentence of the others."""
    from dataclasses import replace

    from qa.answer.decisions import to_read

    first = [0.1, 0.9, 0.3, 0.8, 0.2, 0.7]
    of = ["a", "b", "a", "c", "c", "b"]
    assert to_read(first, 6, 2, of) == [1, 3, 5, 4]
    assert to_read(first, 2) == [1, 3]

    model = load_model()
    model = replace(model, judge=replace(model.judge, read_passages=1))
    reader = Counting(load_span_reader())
    question = "Which air base did the F-16 jets fly from?"
    passages = indexed.search(question)
    assert len(passages) > 1
    draft = ExtractiveAnswerer(model=model, spans=reader).answer(
        question, passages, indexed.term_weight
    )
    sentences = sentences_of(passages)
    ranked = [
        load_model().ranker(row)
        for row in sentence_features(Question.parse(question, indexed.term_weight), sentences)
    ]
    top = sentences[max(range(len(sentences)), key=lambda i: ranked[i])].rank
    assert reader.sentences == sum(s.rank == top for s in sentences)
    assert draft.citations and draft.citations[0].quote in passages[top].chunk.text


class Unread:
    """A span reader that must not be asked: every sentence's span is already known."""

    def find(self, question: str, sentences: Sequence[str]) -> Sequence[Found | None]:
        raise AssertionError("read again")

    def read(self, question: str, items: Sequence[InPassage]) -> Sequence[Found | None]:
        raise AssertionError("read again")


def test_questions_asking_for_a_thing_keep_a_span_the_reader_rates_low(indexed: Service) -> None:
    """Spans below the null answer are given for questions asking for a thing, after any span
    above it; other questions get none from them."""
    sentences = sentences_of(indexed.search("Which province is Incirlik Air Base in?"))[:2]
    first, second = (s.text.split()[0] for s in sentences)
    weak = Found(0, len(first), first, -1.5)
    weaker = Found(0, len(second), second, -3.0)
    strong = Found(0, len(second), second, 2.0)
    answerer = ExtractiveAnswerer(spans=Unread())
    which = Question.parse("Which province is Incirlik Air Base in?", indexed.term_weight)
    why = Question.parse("Why is Incirlik Air Base important?", indexed.term_weight)
    assert answerer.short_answer(sentences, which, [weak, strong]) == second
    assert answerer.short_answer(sentences, which, [weak, weaker]) == first
    assert answerer.short_answer(sentences, why, [weak, weaker]) is None
    assert answerer.short_answer(sentences, why, [weak, strong]) == second


def test_confidence_rises_with_the_readers_margin() -> None:
    """Of two otherwise equal answers, the one whose sentence holds words that answer is the
    surer (the shipped judge learned it from SQuAD, eval/train/answerer.py)."""
    judge = load_model().judge
    low, high = (
        judge.confidence(
            {f: margin if f in ("reader", "reader_margin") else 0.5 for f in CONFIDENCE_FEATURES}
        )
        for margin in (-SPAN_CLIP, SPAN_CLIP)
    )
    assert high > low + 0.1, (low, high)


def test_names_the_question_asks_about() -> None:
    assert name_phrases("What did Mark Toner say about Iran?") == (
        frozenset({"mark", "toner"}),
        frozenset({"iran"}),
    )
    assert name_phrases("Which company built the F-16 jets?") == (frozenset({"16"}),)
    assert name_phrases("Toner said what?") == ()  # a question's first word may be any word
    assert name_phrases("what did mark toner say about iran?") == ()
    shouted = name_phrases("WHO DENIED AWARENESS OF THE AIRSTRIKES?")
    assert len(shouted) == 1 and {"deni", "airstrik"} <= shouted[0]


def test_a_name_the_article_never_mentions_is_missing(indexed: Service) -> None:
    """name_missing is 1 for each sentence whose article (as retrieved) lacks a name the question
    asks about; a surname alone stands for the whole name, as news writes it."""
    idf = indexed.term_weight

    def missing(question: str) -> dict[str, float]:
        sentences = sentences_of(indexed.search(question))
        rows = sentence_features(Question.parse(question, idf), sentences)
        return {
            s.passage.chunk.article_id: row["name_missing"]
            for s, row in zip(sentences, rows, strict=True)
        }

    assert missing("What did Mark Toner say about Pakistan?")[SEED] == 1.0
    assert missing("What did Mark Toner say about civilian casualties?")[SEED] == 0.0
    assert missing("What did Toner say about civilian casualties?")[SEED] == 0.0
    assert missing("what did toner say about pakistan?")[SEED] == 0.0  # no capitals, no names


def test_confidence_falls_when_the_article_lacks_a_name_asked_about() -> None:
    """The shipped judge learned from SQuAD that a question naming what the answer's article
    never names is rarely answered there (eval/train/answerer.py)."""
    judge = load_model().judge
    named, unnamed = (
        judge.confidence({f: flag if f == "name_missing" else 0.5 for f in CONFIDENCE_FEATURES})
        for flag in (0.0, 1.0)
    )
    assert named > unnamed + 0.1, (named, unnamed)


def test_rows_carry_exactly_the_named_features(indexed: Service) -> None:
    """What the model file must name is what the code computes, row by row."""
    question = "Who denied awareness of the airstrikes?"
    sentences = sentences_of(indexed.search(question))
    rows = sentence_features(Question.parse(question, indexed.term_weight), sentences)
    assert rows and all(tuple(row) == SENTENCE_FEATURES for row in rows)
    probs = [1.0 / (i + 2) for i in range(len(rows))]
    confidence = confidence_features(rows, probs, 0, {0: 1.5, 1: -0.5})
    assert set(confidence) == set(CONFIDENCE_FEATURES)
    assert confidence["reader"] == 1.5 and confidence["reader_margin"] == 2.0
    assert tuple(final_row(0.5, 1.5, rows[0])) == FINAL_FEATURES


def test_the_second_stage_trusts_the_reader_less_where_the_sentence_misses_what_is_asked() -> None:
    """A sentence the reader rates highly but that lacks the question's most specific word
    (a bombing elsewhere, for a question naming the village bombed) ranks below one that has
    it, at equal ranker and reader scores; likewise where its article lacks a name asked for."""
    final = load_model().judge.final
    row = dict.fromkeys(SENTENCE_FEATURES, 0.0)
    plain = final(final_row(0.5, 3.0, row))
    assert final(final_row(0.5, 3.0, {**row, "missing": 1.0})) < plain - 0.02
    assert final(final_row(0.5, 3.0, {**row, "name_missing": 1.0})) < plain - 0.02


def test_a_model_file_on_other_features_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from qa.answer.model import MODEL_FILE
    from qa.errors import ModelMismatch

    data = json.loads(MODEL_FILE.read_text())
    data["ranker"]["features"][0] = "something_else"
    broken = tmp_path / "model.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(ModelMismatch, match="something_else"):
        load_model(broken)


class Judging:
    """Passes the real span reader through, giving every sentence it reads the same verdict."""

    def __init__(self, verdict: float) -> None:
        self.spans, self.verdict = load_span_reader(), verdict

    def _said(self, found: Sequence[Found | None]) -> list[Found | None]:
        from dataclasses import replace

        return [None if f is None else replace(f, verdict=self.verdict) for f in found]

    def find(self, question: str, sentences: Sequence[str]) -> Sequence[Found | None]:
        return self._said(self.spans.find(question, sentences))

    def read(self, question: str, items: Sequence[InPassage]) -> Sequence[Found | None]:
        return self._said(self.spans.read(question, items))


def _weighing_verdicts(tmp_path: Path) -> Path:
    """The shipped model file with both judge stages weighing the reader's verdict too."""
    import json

    from qa.answer.model import MODEL_FILE

    data = json.loads(MODEL_FILE.read_text())
    for stage in ("final", "confidence"):
        data["judge"][stage]["features"].append("verdict")
        data["judge"][stage]["coef"].append(0.5)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    return path


def test_a_model_may_weigh_the_readers_verdict_in_both_stages(tmp_path: Path) -> None:
    """ "verdict" is the one feature a model file may add; it adds it to a stage whole, once."""
    import json

    from qa.errors import ModelMismatch

    path = _weighing_verdicts(tmp_path)
    assert load_model(path).judge.verdict and not load_model().judge.verdict
    data = json.loads(path.read_text())
    for n, name in enumerate(["verdicts", "reader"]):  # unknown, and a feature named twice
        data["judge"]["final"]["features"][-1] = name
        broken = tmp_path / f"broken{n}.json"
        broken.write_text(json.dumps(data))
        with pytest.raises(ModelMismatch, match=name):
            load_model(broken)


def test_a_model_weighing_verdicts_hears_them_and_refuses_a_reader_without(
    indexed: Service, tmp_path: Path
) -> None:
    """The verdict the reader gives the sentences it reads reaches both stages: with a positive
    weight, a reader that says "this answers" makes the answer surer than one that says it
    does not. A reader that gives no verdict cannot serve such a model: a clear error."""
    from qa.errors import ModelMismatch

    model = load_model(_weighing_verdicts(tmp_path))
    question = "Which province is Incirlik Air Base in?"
    passages = indexed.search(question)
    sure = ExtractiveAnswerer(model=model, spans=Judging(5.0)).rank(
        question, passages, indexed.term_weight
    )
    unsure = ExtractiveAnswerer(model=model, spans=Judging(-5.0)).rank(
        question, passages, indexed.term_weight
    )
    assert sure.confidence > unsure.confidence + 0.1, (sure.confidence, unsure.confidence)
    with pytest.raises(ModelMismatch, match="verdict"):
        ExtractiveAnswerer(model=model).rank(question, passages, indexed.term_weight)


def test_follow_up_rewriting() -> None:
    toner = [
        Turn("user", "Who denied awareness of the airstrikes?"),
        Turn(
            "assistant",
            "Spokesman Mark Toner stated that he was “not aware” of the "
            "airstrikes launched on the village of Atme on Tuesday. [1]",
        ),
    ]
    assert standalone_question("What did he say about pinpoint accuracy?", toner) == (
        "What did Mark Toner say about pinpoint accuracy?"
    )
    assert standalone_question("What is his job?", toner) == "What is Mark Toner's job?"
    base = [
        Turn("user", "Which air base did the F-16 jets use?"),
        Turn(
            "assistant",
            "CENTCOM announced that F-16 fighter jets deployed in the Incirlik "
            "Air Base in Turkey’s Adana province conducted air strikes. [1]",
        ),
    ]
    assert standalone_question("In which province is it?", base) == (
        "In which province is Incirlik Air Base?"
    )
    iraq = [Turn("user", "How many airstrikes were carried out in Iraq?"), Turn("assistant", "x")]
    assert standalone_question("And in Syria?", iraq) == (
        "How many airstrikes were carried out in Syria?"
    )
    assert standalone_question("Who is Mark Toner?", []) == "Who is Mark Toner?"
    chain = [*iraq, Turn("user", "And in Syria?"), Turn("assistant", "y")]
    assert standalone_question("And in Turkey?", chain) == (
        "How many airstrikes were carried out in Turkey?"
    )


def test_question_kinds_and_short_spans() -> None:
    assert question_kind("How many sisters were killed?") == "number"
    assert question_kind("When did it happen?") == "date"
    assert question_kind("Which province is it in?") == "place"
    assert question_kind("Who said so?") == "person"
    sentence = (
        "CENTCOM said F-16 jets from the Incirlik Air Base in Turkey’s Adana province struck."
    )
    span = best_span(sentence, "In which province is Incirlik Air Base?")
    assert span is not None and span.text == "Adana"


def test_citation_check_refuses_tampered_quotes(indexed: Service) -> None:
    text = indexed.article(SEED)[1]
    start = text.index("Spokesman Mark Toner")
    good = Citation(1, SEED, "t", f"{SEED}:0", start, start + 20, "Spokesman Mark Toner")
    answer = Answer("q", "q", "It was Toner [1].", "Toner", True, 0.9, (good,))
    verify_citations(answer, lambda _: [(0, text)])  # passes
    forged = Citation(1, SEED, "t", f"{SEED}:0", start, start + 20, "Spokesman Mark Twain!")
    with pytest.raises(CitationError, match="does not match"):
        verify_citations(
            Answer("q", "q", "x [1]", None, True, 0.9, (forged,)), lambda _: [(0, text)]
        )
    with pytest.raises(CitationError, match=r"cites \[2\]"):
        verify_citations(
            Answer("q", "q", "x [1] y [2]", None, True, 0.9, (good,)), lambda _: [(0, text)]
        )


def test_question_bounds(indexed: Service) -> None:
    with pytest.raises(InvalidRequest, match="empty"):
        indexed.ask("   ")
    with pytest.raises(InvalidRequest, match="2001 characters"):
        indexed.ask("x" * 2001)


def test_empty_index(service: Service) -> None:
    with pytest.raises(IndexEmpty, match="qa ingest"):
        service.ask("Anything?")
