from __future__ import annotations

import re

from qa.index.embedding import SentenceTransformerEmbedder
from qa.ingest.chunking import chunk_article
from qa.text import sentence_spans

from .conftest import SEEDS


def _chunks(embedder: SentenceTransformerEmbedder, text: str, max_tokens: int):  # type: ignore[no-untyped-def]
    return chunk_article("a", text, max_tokens, embedder.count_tokens, embedder.token_ends)


def test_sentences_keep_offsets_and_break_at_lines() -> None:
    text = "Mr. Smith went to Washington. He said no.\nPhoto by: Reuters\nThe end."
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == [
        "Mr. Smith went to Washington.",
        "He said no.",
        "Photo by: Reuters",
        "The end.",
    ]


def test_chunks_are_exact_fit_the_window_and_lose_nothing(
    embedder: SentenceTransformerEmbedder,
) -> None:
    text = (SEEDS / "us-says-civilian-deaths-unintended.txt").read_text(encoding="utf-8")
    chunks = _chunks(embedder, text, embedder.max_tokens)
    assert len(chunks) >= 2
    covered = set()
    for i, chunk in enumerate(chunks):
        assert chunk.n == i and chunk.id == f"a:{i}"
        assert chunk.text == text[chunk.start : chunk.end]
        # What the model sees, special tokens included, fits its window: nothing is truncated.
        assert embedder.count_tokens([chunk.text])[0] <= embedder.max_tokens
        covered.update(range(chunk.start, chunk.end))
        # Each chunk keeps the article's sentences it holds, offsets into its own text.
        inside = [(a, b) for a, b in sentence_spans(text) if chunk.start <= a < chunk.end]
        assert chunk.sentences == tuple((a - chunk.start, b - chunk.start) for a, b in inside)
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and i not in covered]
    assert missing == []


def test_a_sentence_longer_than_the_window_is_split_not_truncated(
    embedder: SentenceTransformerEmbedder,
) -> None:
    text = "Start. " + " ".join(f"word{i}" for i in range(400)) + " end. Short tail."
    chunks = _chunks(embedder, text, 64)
    assert all(embedder.count_tokens([c.text])[0] <= 64 for c in chunks)
    assert all(c.text == text[c.start : c.end] for c in chunks)
    words = re.findall(r"word\d+", " ".join(c.text for c in chunks))
    assert words == [f"word{i}" for i in range(400)]  # every word once, in order
    # The pieces of the long sentence are the chunks' sentences, each within its chunk.
    for c in chunks:
        assert c.sentences and c.sentences[0][0] == 0 and c.sentences[-1][1] == len(c.text)
        assert all(c.text[a:b].strip() == c.text[a:b] for a, b in c.sentences)


def test_empty_text_has_no_chunks(embedder: SentenceTransformerEmbedder) -> None:
    assert _chunks(embedder, "  \n ", 64) == []
