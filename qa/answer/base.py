"""What every answerer shares: the Draft it returns and the protocols of its parts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from qa.answer.features import TermWeight
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


class Reader(Protocol):
    """Reads a question with each sentence (and the sentence before it) and says, as a logit,
    how likely the sentence is to answer, and its best span with how far that beats "no words
    here answer" (readers.py JointReader)."""

    def read(
        self,
        question: str,
        sentences: Sequence[str],
        previous: Sequence[str | None] | None = None,
    ) -> tuple[list[float], Sequence[Found | None]]: ...


class SpanFinder(Protocol):
    """Finds the words of each sentence that answer the question (readers.py SpanReader)."""

    def find(self, question: str, sentences: Sequence[str]) -> Sequence[Found | None]: ...


class Answerer(Protocol):
    """Turns a question and its retrieved passages into a cited Draft."""

    def answer(
        self, question: str, passages: Sequence[ScoredChunk], weight: TermWeight
    ) -> Draft: ...
