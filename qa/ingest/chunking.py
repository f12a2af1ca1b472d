"""Sentence-aligned chunks that fit the embedding model's window, with exact offsets."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qa.text import sentence_spans
from qa.types import Chunk

# Counts word pieces for each text, without special tokens.
TokenCounter = Callable[[Sequence[str]], list[int]]
# Returns the character end offsets of each word piece of one text.
TokenOffsets = Callable[[str], list[int]]


def chunk_article(
    article_id: str,
    text: str,
    max_tokens: int,
    count_tokens: TokenCounter,
    token_ends: TokenOffsets,
) -> list[Chunk]:
    """Packs whole sentences into chunks of at most max_tokens word pieces.

    A sentence longer than the budget is cut at word-piece boundaries (preferring spaces), so
    the embedding model never truncates anything.
    """
    if max_tokens < 8:
        raise ValueError(f"max_tokens must be >= 8, got {max_tokens}")
    spans = sentence_spans(text)
    counts = count_tokens([text[s:e] for s, e in spans]) if spans else []
    pieces: list[tuple[int, int, int]] = []
    for (start, end), n in zip(spans, counts, strict=True):
        if n <= max_tokens:
            pieces.append((start, end, n))
        else:
            pieces.extend(_split_long(text, start, end, max_tokens, token_ends))

    chunks: list[Chunk] = []
    current: list[tuple[int, int]] = []  # the sentences (or pieces of one) of the next chunk
    cur_tokens = 0
    for start, end, n in pieces:
        if current and cur_tokens + n > max_tokens:
            chunks.append(_chunk(article_id, len(chunks), text, current))
            current, cur_tokens = [], 0
        current.append((start, end))
        cur_tokens += n
    if current:
        chunks.append(_chunk(article_id, len(chunks), text, current))
    return chunks


def _chunk(article_id: str, n: int, text: str, sentences: list[tuple[int, int]]) -> Chunk:
    """The chunk of these sentences, which keeps their offsets: the answerer reads sentences
    without splitting the text again."""
    start, end = sentences[0][0], sentences[-1][1]
    return Chunk(
        article_id=article_id,
        n=n,
        start=start,
        end=end,
        text=text[start:end],
        sentences=tuple((a - start, b - start) for a, b in sentences),
    )


def _split_long(
    text: str, start: int, end: int, max_tokens: int, token_ends: TokenOffsets
) -> list[tuple[int, int, int]]:
    sentence = text[start:end]
    ends = token_ends(sentence)
    out: list[tuple[int, int, int]] = []
    first = 0  # index of the first word piece of the current piece
    piece_start = 0  # character offset of the current piece within the sentence
    while first < len(ends):
        last = min(first + max_tokens, len(ends)) - 1
        if last < len(ends) - 1:
            # Back off to a word piece that ends before a space, if one is near.
            for cand in range(last, max(first, last - 32), -1):
                if sentence[ends[cand] : ends[cand] + 1].isspace():
                    last = cand
                    break
        piece_end = ends[last] if last < len(ends) - 1 else len(sentence)
        lead = len(sentence[piece_start:piece_end]) - len(sentence[piece_start:piece_end].lstrip())
        if sentence[piece_start + lead : piece_end].strip():
            out.append((start + piece_start + lead, start + piece_end, last - first + 1))
        piece_start, first = piece_end, last + 1
    return out
