"""Citations: exact passages, the [n] markers that point at them, and the check every answer
passes before it leaves qa/."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from qa.answer.features import Sentence
from qa.dates import day_words
from qa.errors import CitationError, QAError
from qa.types import Answer, Citation, DayRef

# A citation marker in an answer: "[n]". The sentences quoted into an answer have their own
# bracketed numbers (footnote references in scraped text) taken out by `unmarked`, so every
# marker an answer holds is one of its citations.
MARKER = re.compile(r"\[(\d+)\]")
_FOOTNOTE = re.compile(r"\s*\[\d+\]")

Segments = Sequence[tuple[int, str]]  # (offset in the article text, the text from there)


def unmarked(text: str) -> str:
    """The text without bracketed numbers, which an answer may only use as its own markers."""
    return _FOOTNOTE.sub("", text)


def cite(sentences: Sequence[Sentence]) -> tuple[Citation, ...]:
    """The sentences as citations [1], [2], ... with their exact article offsets."""
    return tuple(
        Citation(
            n=i,
            article_id=s.passage.chunk.article_id,
            title=s.passage.title,
            chunk_id=s.passage.chunk.id,
            start=s.start,
            end=s.end,
            quote=s.text,
            date=s.passage.date,
            days=day_refs(s.text, s.passage.date),
        )
        for i, s in enumerate(sentences, start=1)
    )


def day_refs(text: str, date: int | None) -> tuple[DayRef, ...]:
    """The relative day words of a quoted text, resolved against its article's date."""
    return tuple(DayRef(w.start, w.end, w.day.isoformat(), w.label) for w in day_words(text, date))


def verify_citations(answer: Answer, text_of: Callable[[str], Segments]) -> None:
    """Refuses an answer whose quotes are not exactly their articles' text, or whose [n] dangle.

    text_of gives the known text of an article version as segments: the whole text, or the
    stored chunks of the version the passages came from when it has been replaced since."""
    numbers = {c.n for c in answer.citations}
    for c in answer.citations:
        try:
            segments = text_of(c.article_id)
        except QAError as exc:
            raise CitationError(f"citation [{c.n}] names a missing article: {exc}") from exc
        if not any(
            0 <= c.start - at < c.end - at <= len(text)
            and text[c.start - at : c.end - at] == c.quote
            for at, text in segments
        ):
            raise CitationError(
                f"citation [{c.n}] does not match {c.article_id}[{c.start}:{c.end}]; refused"
            )
    for marker in MARKER.findall(answer.answer):
        if int(marker) not in numbers:
            raise CitationError(f"the answer cites [{marker}] but has no such citation")
