"""The span reader: the shipped fine-tuned cross-encoder, loaded and run for real."""

from __future__ import annotations

import json
import shutil
from itertools import pairwise
from pathlib import Path

import pytest

from qa.answer.features import InPassage, span_margin
from qa.answer.readers import (
    CONFIG,
    SPAN_READER_DIR,
    WEIGHTS,
    ReaderConfig,
    SpanReader,
    as_asked,
    batch_sentence_tokens,
    decode_span,
    decode_spans,
    load_span_reader,
    pair_batch,
    sentence_tokens,
    span_logits,
    word_bounds,
)

BRIDGE = [
    "The stone bridge over the river was begun in 1357 under King Charles IV.",
    "It is 516 metres long and nearly 10 metres wide.",
    "Thirty statues of saints line its parapets, most of them copies.",
    "In summer, painters and musicians crowd the bridge from dawn.",
]


def margins(question: str, sentences: list[str]) -> list[float]:
    """The reader's score of each sentence: its best span's margin over the null answer."""
    return [
        span_margin(f.margin if f else None) for f in load_span_reader().find(question, sentences)
    ]


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("How long is the bridge?", 1),
        ("Under which king was the bridge begun?", 0),
        ("How many statues stand on the bridge?", 2),
        ("Who crowds the bridge in summer?", 3),
    ],
)
def test_the_answering_sentence_scores_highest(question: str, answer: int) -> None:
    z = margins(question, BRIDGE)
    assert max(range(len(BRIDGE)), key=lambda i: z[i]) == answer, z


def test_a_near_miss_scores_below_an_answer() -> None:
    """Same topic, same words, but the asked-for fact is not there."""
    answered = max(margins("How long is the bridge?", BRIDGE))
    missed = max(margins("How much did the bridge cost to build?", BRIDGE))
    assert missed < answered


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("how long is the bridge", "how long is the bridge?"),
        ("  How long is the bridge?  ", "How long is the bridge?"),
        ("Name the king who began the bridge.", "Name the king who began the bridge."),
        ('Who said "begun"', 'Who said "begun"'),
    ],
)
def test_a_question_is_read_ending_as_squad_questions_do(typed: str, read: str) -> None:
    assert as_asked(typed) == read


def test_a_question_typed_without_a_question_mark_reads_as_one_with_it() -> None:
    """People type "how long is the bridge"; the reader learned from questions ending in "?"."""
    assert margins("how long is the bridge", BRIDGE) == margins("How long is the bridge?", BRIDGE)


def test_batches_of_any_size_agree_with_one_at_a_time() -> None:
    reader = load_span_reader()
    question = "How long is the bridge?"
    together = reader.find(question, BRIDGE)
    alone = [reader.find(question, [s])[0] for s in BRIDGE]
    assert [f.margin for f in together if f] == pytest.approx(  # bf16 padding noise
        [f.margin for f in alone if f], abs=0.3
    )
    # The spans of sentences that answer agree; in one that does not, two spans can be within
    # bf16 noise of each other ("summer" and "summer, painters and ... from dawn", 0.03 apart).
    answering = [i for i, f in enumerate(alone) if f and f.margin > 0]
    assert answering
    assert [together[i].text for i in answering] == [alone[i].text for i in answering]  # type: ignore[union-attr]


def test_weights_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    shutil.copy(SPAN_READER_DIR / WEIGHTS, tmp_path / WEIGHTS)
    config = json.loads((SPAN_READER_DIR / CONFIG).read_text())
    (tmp_path / CONFIG).write_text(json.dumps(config | {"layers": config["layers"] - 1}))
    with pytest.raises(ValueError, match="does not fit"):
        SpanReader(tmp_path)
    (tmp_path / CONFIG).write_text(json.dumps(config | {"layers": 40}))
    with pytest.raises(ValueError, match="layers"):
        SpanReader(tmp_path)


@pytest.mark.parametrize(
    ("question", "sentence", "span"),
    [
        ("How long is the bridge?", 1, "516 metres"),
        ("Under which king was the bridge begun?", 0, "King Charles IV"),
        ("When was the bridge begun?", 0, "1357"),
        ("How many statues line the parapets?", 2, "Thirty"),
        ("Who crowds the bridge in summer?", 3, "painters and musicians"),
    ],
)
def test_the_span_reader_finds_the_words_that_answer(
    question: str, sentence: int, span: str
) -> None:
    (found,) = load_span_reader().find(question, [BRIDGE[sentence]])
    assert found is not None and found.margin > 0, found
    assert found.text == span
    assert BRIDGE[sentence][found.start : found.end] == found.text


def test_the_span_reader_finds_nothing_where_nothing_answers() -> None:
    reader = load_span_reader()
    found = reader.find("Under which king was the bridge begun?", BRIDGE[1:])
    assert all(f is not None and f.margin <= 0 for f in found), found
    assert reader.find("How long is the bridge?", []) == []


def test_spans_of_a_whole_batch_are_each_pairs_own() -> None:
    """The batched decoding (token types, one tensor pass) gives what each pair gives alone
    (sequence ids, one pair at a time), padding and truncation included."""
    import torch
    from transformers import AutoTokenizer

    from qa.index.embedding import resolve_model

    reader = load_span_reader()
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(reader.config.base))
    long = " ".join(BRIDGE * 12)  # truncated at the reader's window
    sentences = [*BRIDGE, long, "Bridge."]
    batch, offsets = pair_batch(tokenizer, ["How long is it?"] * 6, sentences, 256)
    with torch.inference_mode():
        starts, ends = span_logits(None, reader._head, batch, reader._fast)
    lengths = [len(s) for s in sentences]
    allowed = batch_sentence_tokens(batch, offsets, lengths)
    for k, n in enumerate(lengths):
        assert torch.equal(allowed[k], sentence_tokens(batch, offsets, k, n))
        assert decode_spans(starts, ends, allowed)[k] == decode_span(starts[k], ends[k], allowed[k])
    nothing = torch.zeros_like(allowed)
    assert decode_spans(starts, ends, nothing) == [None] * 6


def test_spans_are_whole_words_without_the_punctuation_around_them() -> None:
    text = 'He said "not aware", then left (twice); costs rose 12%.'

    def widened(piece: str, cut: int = 1) -> str:
        """What a span reader's word pieces from inside `piece` widen to."""
        at = text.index(piece)
        return text[slice(*word_bounds(text, at + cut, at + len(piece) - cut))]

    assert widened("not aware") == "not aware"  # cut inside both words
    assert widened('"not aware",', cut=0) == "not aware"  # quotes and comma dropped
    assert widened("(twice);", cut=0) == "twice"
    assert widened("12%.", cut=0) == "12%"


def test_a_reader_folder_of_another_kind_is_refused(tmp_path: Path) -> None:
    config = json.loads((SPAN_READER_DIR / CONFIG).read_text())
    shutil.copy(SPAN_READER_DIR / WEIGHTS, tmp_path / WEIGHTS)
    (tmp_path / CONFIG).write_text(json.dumps(config | {"task": "joint"}))
    with pytest.raises(ValueError, match="unknown reader task"):
        SpanReader(tmp_path)
    # A head of the wrong size under a config that claims the right kind is refused too.
    from safetensors.torch import load_file, save_file

    state = load_file(SPAN_READER_DIR / WEIGHTS)
    state["head.weight"], state["head.bias"] = state["head.weight"][:1], state["head.bias"][:1]
    save_file(state, str(tmp_path / WEIGHTS))
    (tmp_path / CONFIG).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not hold a span reader"):
        SpanReader(tmp_path)


def test_span_training_labels_point_at_the_answer_word_pieces() -> None:
    from transformers import AutoTokenizer

    from eval.train.spans import Example, encode
    from qa.index.embedding import resolve_model

    config = ReaderConfig.load(SPAN_READER_DIR)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(config.base))
    sentence = BRIDGE[0]
    at = sentence.index("King Charles IV")
    long = "The river was wide and slow that year, " * 20
    rows = [
        Example("Under which king?", sentence, (at, at + len("King Charles IV")), ("x",)),
        Example("Under which king?", BRIDGE[1], None, ("x",)),  # the null answer
        # An answer that truncation cuts off is labelled null, not half an answer.
        Example("Under which king?", long + "King Charles IV.", (len(long), len(long) + 15), ()),
    ]
    batch, _, allowed, starts, ends = encode(tokenizer, config, rows)
    ids = batch["input_ids"][0][int(starts[0]) : int(ends[0]) + 1]
    assert tokenizer.decode(ids) == "king charles iv"
    assert (int(starts[1]), int(ends[1]), int(starts[2]), int(ends[2])) == (0, 0, 0, 0)
    question_piece = batch.sequence_ids(0).index(0)
    assert allowed[0, 0] and not allowed[0, question_piece] and allowed[0, int(starts[0])]


def test_span_validation_ranks_the_answer_sentence_in_each_reading() -> None:
    """The trainer's ranking figures read each window whole, each sentence after the one
    before it and each sentence alone, and rank by the mean of the last two; the shipped reader
    ranks the answering sentence of the bridge passage first in all four, and a one-sentence
    window is not ranked."""
    from eval.train.common import load_init
    from eval.train.spans import Example, in_context_first
    from qa.answer.readers import build

    config = ReaderConfig.load(SPAN_READER_DIR)
    tokenizer, encoder, head = build(config)
    load_init(encoder, head, SPAN_READER_DIR)
    encoder.eval()
    passage = " ".join(BRIDGE)
    parts = tuple((passage.index(s), passage.index(s) + len(s)) for s in BRIDGE)

    def asked(question: str, answer: str) -> Example:
        at = passage.index(answer)
        return Example(question, passage, (at, at + len(answer)), (answer,), parts=parts)

    rows = [
        asked("Under which king was the bridge begun?", "King Charles IV"),
        asked("How long is the bridge?", "516 metres"),
        asked("How many statues line the parapets?", "Thirty"),
        Example("How long?", BRIDGE[1], (6, 16), ("516 metres",), parts=((0, len(BRIDGE[1])),)),
    ]
    assert in_context_first(tokenizer, encoder, head, config, rows) == {
        "answer_sentence_first_in_context": 1.0,
        "answer_sentence_first_after_previous": 1.0,
        "answer_sentence_first_alone": 1.0,
        "answer_sentence_first_both": 1.0,
        "windows_ranked": 3,
    }


def _reader_reading(tmp_path: Path, reads: str, precision: str = "auto") -> SpanReader:
    """The shipped reader's weights, reading as `reads` says."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = json.loads((SPAN_READER_DIR / CONFIG).read_text())
    shutil.copy(SPAN_READER_DIR / WEIGHTS, tmp_path / WEIGHTS)
    (tmp_path / CONFIG).write_text(json.dumps(config | {"reads": reads}))
    return SpanReader(tmp_path, precision)


def _in_passage(sentences: list[str]) -> list[InPassage]:
    """Each sentence in the passage of them all, after the one before it."""
    passage = " ".join(sentences)
    at = [passage.index(s) for s in sentences]
    return [
        InPassage(passage, a, a + len(s), at[n - 1] if n else None)
        for n, (a, s) in enumerate(zip(at, sentences, strict=True))
    ]


def test_a_sentence_reader_reads_sentences_given_in_passages_alone(tmp_path: Path) -> None:
    reader = _reader_reading(tmp_path, "sentence")
    question = "How long is the bridge?"
    read = reader.read(question, _in_passage(BRIDGE))
    found = reader.find(question, BRIDGE)
    assert [(f.start, f.end, f.text, f.margin) for f in read if f] == [
        (f.start, f.end, f.text, f.margin) for f in found if f
    ]


@pytest.mark.parametrize(
    ("question", "answer", "span"),
    [
        ("How long is the bridge?", 1, "516 metres"),
        ("Under which king was the bridge begun?", 0, "King Charles IV"),
        ("How many statues line the parapets?", 2, "Thirty"),
    ],
)
def test_a_passage_reader_scores_each_sentence_by_its_spans_in_the_passage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, question: str, answer: int, span: str
) -> None:
    """One pass per distinct passage; each sentence's span lies inside it (offsets into the
    sentence), and the answering one scores highest with a span holding the answer (weights
    trained to read sentences alone may take a word more when they read a whole passage:
    "516 metres long")."""
    import qa.answer.readers as readers

    reader = _reader_reading(tmp_path, "passage")
    pairs: list[int] = []
    logits = readers.reader_logits

    def counted(encoder, head, batch, fast=None):  # type: ignore[no-untyped-def]
        pairs.append(int(batch["input_ids"].shape[0]))
        return logits(encoder, head, batch, fast)

    monkeypatch.setattr(readers, "reader_logits", counted)
    items = _in_passage(BRIDGE)
    found = reader.read(question, items)
    assert pairs == [1]
    assert all(f is not None for f in found), found
    for f, s in zip(found, BRIDGE, strict=True):
        assert f is not None and s[f.start : f.end] == f.text
    margins = [f.margin for f in found if f]
    assert max(range(len(BRIDGE)), key=lambda i: margins[i]) == answer, margins
    assert found[answer] is not None and span in found[answer].text
    # Two passages, three sentences: two pairs; a sentence truncation cut off finds nothing.
    pairs.clear()
    long = " ".join(["The river was wide and slow that year."] * 80)
    two = [
        items[0],
        items[1],
        InPassage(long + " " + BRIDGE[1], len(long) + 1, len(long) + 1 + len(BRIDGE[1])),
    ]
    again = reader.read(question, two)
    assert pairs == [2]
    assert again[2] is None
    assert [(f.text, f.start) for f in again[:2] if f] == [
        (f.text, f.start) for f in found[:2] if f
    ]


def test_a_previous_reader_reads_each_sentence_after_the_one_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One pair a sentence: the sentence before it and the sentence (the first sentence of a
    passage alone); the span comes from the sentence itself, with offsets into it."""
    import qa.answer.readers as readers

    reader = _reader_reading(tmp_path, "previous")
    read: list[str] = []
    pairs = readers.FolderPairs.__call__

    def recorded(self, questions, passages):  # type: ignore[no-untyped-def]
        read.extend(passages)
        return pairs(self, questions, passages)

    monkeypatch.setattr(readers.FolderPairs, "__call__", recorded)
    items = _in_passage(BRIDGE)
    found = reader.read("How long is the bridge?", items)
    assert read == [BRIDGE[0], *(f"{a} {b}" for a, b in pairwise(BRIDGE))]
    for f, s in zip(found, BRIDGE, strict=True):
        assert f is not None and s[f.start : f.end] == f.text
    assert found[1] is not None and "516 metres" in found[1].text  # see the passage test
    margins = [f.margin for f in found if f]
    assert max(range(len(BRIDGE)), key=lambda i: margins[i]) == 1, margins


LIGHTHOUSE = [
    "A group of forty volunteers has completed a three-year restoration of the Karsvik "
    "lighthouse, the oldest working light on the northern coast.",
    "The tower, built in 1871 by the engineer Helga Marstrand, had been closed since a storm "
    "cracked its lantern room in 2019.",
    "The light will be switched on again on 14 June.",
]


def test_a_both_reader_averages_the_sentence_read_alone_and_after_the_one_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each sentence is read alone and after the sentence before it; its span is decoded from
    the mean of the two readings' logits, so its margin is at most the mean of the two
    readings' margins, and equal to it where both readings pick the same word pieces of the
    sentence (the first sentence of a passage is read alone both times). The same words can
    come from different word pieces (a span ending at the sentence's full stop widens to the
    words before it), so the pieces are compared, not the words."""
    import qa.answer.readers as module

    picked: list[list[tuple[int, int] | None]] = []
    decode = module.decode_spans

    def recorded(starts, ends, allowed, *args):  # type: ignore[no-untyped-def]
        """decode_spans, noting each pair's span in word pieces from the sentence's first."""
        spans = decode(starts, ends, allowed, *args)
        firsts = [int(row.nonzero()[0, 0]) if bool(row.any()) else 0 for row in allowed]
        picked.append(
            [
                None if s is None else (s[0] - f, s[1] - f)
                for s, f in zip(spans, firsts, strict=True)
            ]
        )
        return spans

    monkeypatch.setattr(module, "decode_spans", recorded)
    readers = {
        reads: _reader_reading(tmp_path / reads, reads, "float32")
        for reads in ("sentence", "previous", "both")
    }
    same_pieces = 0
    for sentences, question in [
        (BRIDGE, "How long is the bridge?"),
        (LIGHTHOUSE, "Who restored the Karsvik lighthouse?"),
        (LIGHTHOUSE, "When was the lighthouse built?"),
    ]:
        items = _in_passage(sentences)
        picked.clear()
        alone, after, both = (readers[r].read(question, items) for r in readers)
        pieces_alone, pieces_after, _ = picked
        for k, (a, p, b) in enumerate(zip(alone, after, both, strict=True)):
            assert a is not None and p is not None and b is not None
            assert sentences[k][b.start : b.end] == b.text
            mean = (a.margin + p.margin) / 2
            assert b.margin <= mean + 1e-3, (question, k, a, p, b)
            if pieces_alone[k] == pieces_after[k]:
                same_pieces += 1
                assert b.margin == pytest.approx(mean, abs=1e-3)
                assert (b.start, b.end) == (a.start, a.end)
        assert both[0] is not None and alone[0] is not None
        assert both[0].margin == pytest.approx(alone[0].margin, abs=1e-3)
    assert same_pieces >= 3  # at least each passage's first sentence


def test_a_reader_folder_of_an_unknown_reading_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown reading"):
        _reader_reading(tmp_path, "document")


def _with_verdict(tmp_path: Path, rows: int = 3) -> Path:
    """The shipped reader's weights with a verdict: its head given a third output, a copy of
    the start output (so the verdict of a pair is its [CLS] start logit), and reader.json
    saying it has one; `rows` keeps that many of the head's outputs."""
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(SPAN_READER_DIR / WEIGHTS)
    weight, bias = state["head.weight"], state["head.bias"]
    state["head.weight"] = torch.cat([weight, weight[:1]])[:rows].contiguous()
    state["head.bias"] = torch.cat([bias, bias[:1]])[:rows].contiguous()
    tmp_path.mkdir(parents=True, exist_ok=True)
    save_file(state, str(tmp_path / WEIGHTS))
    config = json.loads((SPAN_READER_DIR / CONFIG).read_text())
    (tmp_path / CONFIG).write_text(json.dumps(config | {"verdict": True}))
    return tmp_path


def test_a_reader_with_a_verdict_gives_each_sentence_its_verdict(tmp_path: Path) -> None:
    """The verdict is one more output of the same pass, read at [CLS]: the spans and margins
    are those of the same weights without it, and each sentence's verdict is its pair's."""
    reader = SpanReader(_with_verdict(tmp_path))
    plain = load_span_reader()
    question = "How long is the bridge?"
    found, before = reader.find(question, BRIDGE), plain.find(question, BRIDGE)
    assert [(f.text, f.margin) for f in found if f] == [(f.text, f.margin) for f in before if f]
    assert all(f is None or f.verdict is None for f in before)
    batch, _ = plain._pairs([as_asked(question)] * len(BRIDGE), BRIDGE)
    starts, _ = span_logits(None, plain._head, batch, plain._fast)
    verdicts = [f.verdict for f in found if f]
    assert verdicts == pytest.approx([float(s) for s in starts[:, 0].detach()], abs=1e-3)
    assert len(set(verdicts)) == len(BRIDGE)  # each pair's own
    # A "both" reader's verdict of a sentence is the mean of its two readings' verdicts: the
    # sentence alone, and after the one before it (in float32, so that batches agree exactly).
    both = SpanReader(_reader_with(_with_verdict(tmp_path / "both"), reads="both"), "float32")
    reader = SpanReader(_with_verdict(tmp_path / "alone"), "float32")
    items = _in_passage(BRIDGE)
    for f, item in zip(both.read(question, items), items, strict=True):
        window = item.text[item.start if item.before is None else item.before : item.end]
        alone, after = reader.find(question, [item.text[item.start : item.end], window])
        assert f is not None and alone is not None and after is not None
        assert f.verdict == pytest.approx((alone.verdict + after.verdict) / 2, abs=1e-3)  # type: ignore[operator]


def _reader_with(folder: Path, **changes: object) -> Path:
    config = json.loads((folder / CONFIG).read_text())
    (folder / CONFIG).write_text(json.dumps(config | changes))
    return folder


def test_a_reader_claiming_a_verdict_its_head_lacks_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not hold a span reader"):
        SpanReader(_with_verdict(tmp_path, rows=2))
    with pytest.raises(ValueError, match="does not hold a span reader"):
        SpanReader(_reader_with(_with_verdict(tmp_path / "three"), verdict=False))
