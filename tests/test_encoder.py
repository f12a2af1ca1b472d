"""qa/encoder.py computes what transformers' BertModel computes, on the shipped models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from qa.answer.readers import (
    SPAN_READER_DIR,
    ReaderConfig,
    build,
    load_span_reader,
    pair_batch,
    span_logits,
)
from qa.encoder import FastBert, supports
from qa.index.embedding import SentenceTransformerEmbedder, resolve_model
from qa.settings import DEFAULT_EMBED_MODEL

QUESTION = "Who denied awareness of the airstrikes?"
SENTENCES = [
    "State Department spokesman Mark Toner said he was not aware of the strikes.",
    "The bridge is 516 metres long.",
    "Officials said the airstrikes near the town killed at least 20 civilians, including "
    "children, according to local sources and a monitoring group based in Britain.",
    "He added that an investigation would be opened.",
]


def transformers_reader() -> tuple[object, object, object]:
    """The shipped span reader restored onto transformers' BertModel in bfloat16, as the
    trainer restores it: the reference for the reader's own pass."""
    from eval.train.common import load_init

    tokenizer, encoder, head = build(ReaderConfig.load(SPAN_READER_DIR))
    load_init(encoder, head, SPAN_READER_DIR)
    return tokenizer, encoder.eval().to(torch.bfloat16), head


def test_the_span_readers_pass_gives_transformers_logits_padding_and_all() -> None:
    reader = load_span_reader()
    assert reader._fast is not None and reader._encoder is None  # no transformers model
    tokenizer, encoder, head = transformers_reader()
    batch, _ = pair_batch(tokenizer, [QUESTION] * 4, SENTENCES, 256)
    real = batch["attention_mask"].bool()
    assert not bool(real.all())  # the short sentences are padded
    with torch.inference_mode():
        hf_start, hf_end = span_logits(encoder, head, batch)
        start, end = span_logits(None, reader._head, batch, reader._fast)
    # Same arithmetic, different kernels: equal to bfloat16 rounding, and the same best span.
    for ours, theirs in ((start, hf_start), (end, hf_end)):
        assert float((ours - theirs)[real].abs().max()) < 0.25
        assert torch.equal(
            ours.masked_fill(~real, -1e9).argmax(1), theirs.masked_fill(~real, -1e9).argmax(1)
        )
    found = reader.find(QUESTION, SENTENCES)
    assert found[0] is not None and "Toner" in found[0].text


def test_the_readers_word_pieces_are_transformers_pair_batches() -> None:
    """The reader tokenizes with the tokenizers library; transformers' tokenizer gives the same
    ids, token types, mask and offsets, truncation and accents included."""
    tokenizer, _, _ = transformers_reader()
    reader = load_span_reader()
    long = " ".join(SENTENCES * 20)  # truncated at the reader's window
    passages = [*SENTENCES, long, "Café naïve “quoted” — 中文 😀", ""]
    questions = [QUESTION] * 5 + ["what day was atme bombed? " * 40, QUESTION]
    theirs, their_offsets = pair_batch(tokenizer, questions, passages, reader.config.max_length)
    ours, our_offsets = reader._pairs(questions, passages)
    for name in ("input_ids", "token_type_ids", "attention_mask"):
        assert torch.equal(ours[name], theirs[name]), name
    assert our_offsets == [[tuple(o) for o in row] for row in their_offsets]


def test_the_embedder_gives_sentence_transformers_vectors(
    embedder: SentenceTransformerEmbedder,
) -> None:
    """The packaged model is loaded without sentence-transformers; its vectors are that
    library's, loaded as it loads any model (in float32: the embedder runs bfloat16)."""
    from sentence_transformers import SentenceTransformer

    assert embedder._model is None and embedder._fast is not None
    texts = [QUESTION, *SENTENCES, "word " * 400]  # the last one is truncated at 256
    ours = embedder.embed_documents(texts)
    reference = SentenceTransformer(resolve_model(DEFAULT_EMBED_MODEL), device="cpu")
    assert reference.max_seq_length == embedder.max_tokens + 2
    theirs = reference.encode(texts, normalize_embeddings=True)
    cosines = np.sum(ours * theirs, axis=1)
    assert float(np.min(cosines)) > 0.995, cosines


@pytest.mark.parametrize(
    ("changed", "fast"),
    [
        # Saved as a masked-LM checkpoint: loaded by sentence-transformers, still a BertModel.
        (("config.json", {"architectures": ["BertForMaskedLM"]}), True),
        # Lower-casing the texts first: sentence-transformers' own encode.
        (("sentence_bert_config.json", {"do_lower_case": True}), False),
    ],
)
def test_other_folders_load_through_sentence_transformers(
    tmp_path: Path,
    embedder: SentenceTransformerEmbedder,
    changed: tuple[str, dict[str, object]],
    fast: bool,
) -> None:
    """A folder that is not a plain BERT with mean pooling is loaded by sentence-transformers,
    and runs qa.encoder's pass where its model is a BertModel that sees the texts as given."""
    packaged = Path(resolve_model(DEFAULT_EMBED_MODEL))
    name, update = changed
    for item in packaged.iterdir():
        if item.name != name:
            (tmp_path / item.name).symlink_to(item)
    (tmp_path / name).write_text(json.dumps(json.loads((packaged / name).read_text()) | update))
    loaded = SentenceTransformerEmbedder(str(tmp_path))
    assert loaded._model is not None and (loaded._fast is not None) == fast
    texts = [QUESTION, *SENTENCES]  # the model's tokenizer lower-cases anyway: same vectors
    cosines = np.sum(loaded.embed_documents(texts) * embedder.embed_documents(texts), axis=1)
    assert float(np.min(cosines)) > 0.999, cosines


def tiny_bert(seed: int) -> Any:
    """A small randomly initialised transformers BertModel (two layers, 32 dimensions)."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=40,
    )  # fmt: skip
    model = BertModel(config, add_pooling_layer=False).eval()
    return model


def test_in_float32_it_is_transformers_to_rounding() -> None:
    model = tiny_bert(0)
    ids = torch.randint(1, 50, (3, 12))
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[1, 7:] = 0
    mask[2, 3:] = 0
    types = torch.zeros(3, 12, dtype=torch.long)
    types[:, 5:] = 1
    with torch.inference_mode():
        theirs = model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        ours = FastBert.from_model(model)(ids, mask, types)
    real = mask.bool()
    assert torch.allclose(ours[real], theirs[real], atol=1e-5)


@pytest.mark.parametrize("rows", [1, 5, 32, 64])
def test_padded_rows_never_reach_the_real_tokens(rows: int, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The products run on the real tokens padded to a multiple of ROWS (a bounded set of
    shapes for oneDNN's kernel cache); however many padding rows, the real tokens' states are
    the same."""
    import qa.encoder

    model = tiny_bert(1)
    ids = torch.randint(1, 50, (2, 9))
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, 4:] = 0  # 13 real tokens
    fast = FastBert.from_model(model)
    with torch.inference_mode():
        monkeypatch.setattr(qa.encoder, "ROWS", 1)
        unpadded = fast(ids, mask)
        monkeypatch.setattr(qa.encoder, "ROWS", rows)
        padded = fast(ids, mask)
    assert torch.allclose(padded, unpadded, atol=1e-6)
    assert torch.count_nonzero(padded[1, 4:]) == 0  # padding positions stay zero


def test_other_architectures_are_left_to_transformers() -> None:
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=64, hidden_act="relu",
    )  # fmt: skip
    assert not supports(BertModel(config))
    assert not supports(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="not a BERT encoder"):
        FastBert.from_model(torch.nn.Linear(2, 2))
