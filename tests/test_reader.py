"""The readers: the shipped fine-tuned cross-encoders, loaded and run for real."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qa.answer.readers import (
    CONFIG,
    READER_DIR,
    SPAN_READER_DIR,
    WEIGHTS,
    JointReader,
    ReaderConfig,
    SpanReader,
    load_reader,
    load_span_reader,
    word_bounds,
)

BRIDGE = [
    "The stone bridge over the river was begun in 1357 under King Charles IV.",
    "It is 516 metres long and nearly 10 metres wide.",
    "Thirty statues of saints line its parapets, most of them copies.",
    "In summer, painters and musicians crowd the bridge from dawn.",
]
BEFORE = [None, *BRIDGE[:-1]]


def logits(
    question: str, sentences: list[str], previous: list[str | None] | None = None
) -> list[float]:
    return load_reader().read(question, sentences, previous)[0]


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
    """Each sentence read alone (the sentence after an answer, read with the answer before it,
    borrows some of its score: the answerer's ranker and judge weigh that)."""
    z = logits(question, BRIDGE)
    assert max(range(len(BRIDGE)), key=lambda i: z[i]) == answer, z


def test_a_near_miss_scores_below_an_answer() -> None:
    """Same topic, same words, but the asked-for fact is not there."""
    answered = max(logits("How long is the bridge?", BRIDGE, BEFORE))
    missed = max(logits("How much did the bridge cost to build?", BRIDGE, BEFORE))
    assert missed < answered


def test_batches_of_any_size_agree_with_one_at_a_time() -> None:
    reader = load_reader()
    question = "How long is the bridge?"
    together = reader.read(question, BRIDGE, BEFORE)
    alone = [reader.read(question, [s], [b]) for s, b in zip(BRIDGE, BEFORE, strict=True)]
    assert together[0] == pytest.approx([z[0] for z, _ in alone], abs=0.15)  # bf16 padding noise
    assert [f.text if f else None for f in together[1]] == [
        f[0].text if f[0] else None for _, f in alone
    ]
    assert reader.read(question, []) == ([], [])


def test_the_reader_reads_the_sentence_before() -> None:
    # "It is 516 metres long" says how long the bridge is once "it" is known to be the bridge.
    question = "How long is the bridge?"
    with_before = logits(question, [BRIDGE[1]], [BRIDGE[0]])[0]
    alone = logits(question, [BRIDGE[1]])[0]
    assert with_before > alone


def test_a_short_answer_never_comes_from_the_sentence_before() -> None:
    """The answer to the question is in the sentence before; the span must stay in its own."""
    reader = load_reader()
    _, (found,) = reader.read("When was the bridge begun?", [BRIDGE[1]], [BRIDGE[0]])
    assert found is not None and found.end <= len(BRIDGE[1]) and found.margin <= 0, found
    assert BRIDGE[1][found.start : found.end] == found.text


def test_weights_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    shutil.copy(READER_DIR / WEIGHTS, tmp_path / WEIGHTS)
    config = json.loads((READER_DIR / CONFIG).read_text())
    (tmp_path / CONFIG).write_text(json.dumps(config | {"layers": config["layers"] - 1}))
    with pytest.raises(ValueError, match="does not fit"):
        JointReader(tmp_path)
    (tmp_path / CONFIG).write_text(json.dumps(config | {"layers": 40}))
    with pytest.raises(ValueError, match="layers"):
        JointReader(tmp_path)


def test_what_the_reader_reads_beside_the_question() -> None:
    plain = ReaderConfig("m", 6, 96, context=False, task="span")
    assert plain.passage("It is long.", "The bridge is old.") == "It is long."
    context = ReaderConfig("m", 6, 128)
    assert context.passage("It is long.", "The bridge is old.") == (
        "It is long. [SEP] The bridge is old."
    )
    assert context.passage("It is long.", None) == "It is long."


def test_previous_sentences_stay_within_their_passage() -> None:
    from qa.answer.features import previous_sentences, sentences_of
    from qa.types import Chunk, ScoredChunk

    def passage(article: str, text: str) -> ScoredChunk:
        chunk = Chunk(article_id=article, n=0, start=0, end=len(text), text=text)
        return ScoredChunk(chunk=chunk, score=1.0, title=article)

    sentences = sentences_of(
        [passage("a", "The bridge is old. It is long."), passage("b", "Rain fell. It stopped.")]
    )
    assert [s.text for s in sentences] == [
        "The bridge is old.",
        "It is long.",
        "Rain fell.",
        "It stopped.",
    ]
    assert previous_sentences(sentences) == [None, "The bridge is old.", None, "Rain fell."]


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
    # The reader, in the same pass as its score, says that words here answer.
    _, (own,) = load_reader().read(question, [BRIDGE[sentence]], [BEFORE[sentence]])
    assert own is not None and own.margin > 0, own


def test_the_span_reader_finds_nothing_where_nothing_answers() -> None:
    reader = load_span_reader()
    found = reader.find("Under which king was the bridge begun?", BRIDGE[1:])
    assert all(f is not None and f.margin <= 0 for f in found), found
    assert reader.find("How long is the bridge?", []) == []


def test_the_reader_finds_no_words_where_nothing_answers() -> None:
    _, found = load_reader().read("Under which king was the bridge begun?", BRIDGE[2:])
    assert all(f is not None and f.margin <= 0 for f in found), found


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


def test_a_reader_folder_of_the_other_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not hold a joint reader"):
        JointReader(SPAN_READER_DIR)
    with pytest.raises(ValueError, match="does not hold a span reader"):
        SpanReader(READER_DIR)
    # A head of the wrong size under a config that claims the right kind is refused too.
    from safetensors.torch import load_file, save_file

    state = load_file(READER_DIR / WEIGHTS)
    state["head.weight"], state["head.bias"] = state["head.weight"][:1], state["head.bias"][:1]
    save_file(state, str(tmp_path / WEIGHTS))
    shutil.copy(READER_DIR / CONFIG, tmp_path / CONFIG)
    with pytest.raises(ValueError, match="does not hold a joint reader"):
        JointReader(tmp_path)


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


def test_reader_training_labels_point_at_the_answer_word_pieces() -> None:
    from transformers import AutoTokenizer

    from eval.train.reader import Candidate, encode
    from qa.index.embedding import resolve_model

    config = ReaderConfig.load(READER_DIR)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(config.base))
    sentence = BRIDGE[0]
    at = sentence.index("King Charles IV")
    long = "The river was wide and slow that year, " * 20
    q = "Under which king?"
    pairs = [
        (q, Candidate(sentence, None, 1.0, (at, at + len("King Charles IV")))),
        (q, Candidate(BRIDGE[1], BRIDGE[0], 0.0, None)),  # the null answer
        # An answer that truncation cuts off gets no span loss, not half an answer.
        (q, Candidate(long + "King Charles IV.", None, 1.0, (len(long), len(long) + 15))),
        # The answer in the sentence before is not this sentence's: it may not be labelled.
        (q, Candidate(BRIDGE[1], sentence, 0.0, None)),
    ]
    batch, _, allowed, starts, ends = encode(tokenizer, config, pairs)
    ids = batch["input_ids"][0][int(starts[0]) : int(ends[0]) + 1]
    assert tokenizer.decode(ids) == "king charles iv"
    assert [int(x) for x in (starts[1], ends[1], starts[2], ends[2])] == [0, 0, -100, -100]
    # Spans may use [CLS] and the sentence's own word pieces: never the question's, never
    # those of the sentence before.
    question_piece = batch.sequence_ids(0).index(0)
    assert allowed[0, 0] and not allowed[0, question_piece] and allowed[0, int(starts[0])]
    before = [t for t, s in enumerate(batch.sequence_ids(3)) if s == 1]
    king = tokenizer.convert_tokens_to_ids("king")
    assert not any(allowed[3, t] for t in before if batch["input_ids"][3, t] == king)
