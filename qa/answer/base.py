"""What every answerer shares: the Draft it returns and the protocols of its parts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from qa.answer.features import InPassage, TermWeight
from qa.types import Citation, ScoredChunk

if TYPE_CHECKING:
    from qa.answer.readers import Found

NOT_COVERED = "The articles don't say."


@dataclass(frozen=True)
class Draft:
    """An answerer's output before timings and the final citation check."""

    answer: str
    short_answer: str | None
    answered: bool
    confidence: float
    citations: tuple[Citation, ...]
    answerer: str = "extractive"  # which answerer wrote the text: "extractive" or "llm"


class SpanFinder(Protocol):
    """Finds the words of each sentence that answer the question, and by how much they beat
    "no words here answer" (readers.py SpanReader)."""

    def find(self, question: str, sentences: Sequence[str]) -> Sequence[Found | None]: ...

    def read(self, question: str, items: Sequence[InPassage]) -> Sequence[Found | None]:
        """find() of sentences given in their passages: a reader may read each passage whole,
        or each sentence after the one before it."""
        ...


class Answerer(Protocol):
    """Turns a question and its retrieved passages into a cited Draft."""

    def answer(
        self, question: str, passages: Sequence[ScoredChunk], weight: TermWeight
    ) -> Draft: ...
