"""The values that flow through qa: frozen dataclasses, no behaviour beyond small helpers."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from qa.errors import InvalidRequest

# Dates are Unix seconds (UTC) within the years a calendar date can be written for, 1 to 9999:
# every stored date can be shown, and every bound fits the int64 that Chroma and numpy use.
EARLIEST = int(dt.datetime(1, 1, 1, tzinfo=dt.UTC).timestamp())
LATEST = int(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp())


def date_in_range(value: object) -> bool:
    """Whether value is a usable date: an int (not a bool) of Unix seconds in years 1-9999."""
    return isinstance(value, int) and not isinstance(value, bool) and EARLIEST <= value <= LATEST


@dataclass(frozen=True)
class Article:
    """One news article as parsed from a file or a feed line."""

    id: str
    title: str
    text: str
    source: str | None = None
    date: int | None = None  # Unix seconds (UTC), so ranges can be filtered.
    url: str | None = None
    path: str | None = None  # Where it was read from, for reports and --prune.

    def metadata(self) -> dict[str, Any]:
        """Title, source, date and url without the empty ones (Chroma refuses None)."""
        meta: dict[str, Any] = {"title": self.title}
        for key in ("source", "date", "url", "path"):
            value = getattr(self, key)
            if value is not None:
                meta[key] = value
        return meta


@dataclass(frozen=True)
class ArticleInfo:
    """What the index knows of a stored article, without its text."""

    id: str
    title: str
    version: str
    chunks: int
    chars: int
    source: str | None = None
    date: int | None = None
    url: str | None = None
    path: str | None = None
    copies: tuple[str, ...] = ()  # ids of other articles that carry the same story


MAX_ID_CHARS = 120  # the longest article id
# An id slugify keeps as it is: lowercase letters and digits, in words joined by single dashes.
SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned piece of an article: text == article.text[start:end]."""

    article_id: str
    n: int
    start: int
    end: int
    text: str
    # (start, end) of each sentence in text, as the chunker split the article; None where not
    # known (a chunk stored before they were), and its text is split again when needed.
    sentences: tuple[tuple[int, int], ...] | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return f"{self.article_id}:{self.n}"


@dataclass(frozen=True)
class ScoredChunk:
    """A retrieved chunk with the article metadata it carries and its retrieval scores."""

    chunk: Chunk
    score: float
    title: str
    source: str | None = None
    date: int | None = None
    url: str | None = None
    dense_rank: int | None = None
    lexical_rank: int | None = None
    dense_score: float | None = None
    version: str = ""  # the article version the chunk belongs to


@dataclass(frozen=True)
class Filters:
    """Restricts a search to some articles, a source, or a date range (Unix seconds)."""

    article_ids: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    date_from: int | None = None
    date_to: int | None = None

    def __post_init__(self) -> None:
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value is not None and not date_in_range(value):
                raise InvalidRequest(
                    f"{name} must be Unix seconds between {EARLIEST} and {LATEST} "
                    f"(years 1 to 9999), got {value!r}"
                )

    def is_empty(self) -> bool:
        return not (
            self.article_ids
            or self.sources
            or self.date_from is not None
            or self.date_to is not None
        )

    def admits(self, info: ArticleInfo) -> bool:
        """Whether the article passes: its id, source and date (an undated article is outside
        any date range, as in search)."""
        if self.article_ids and info.id not in self.article_ids:
            return False
        if self.sources and info.source not in self.sources:
            return False
        if self.date_from is None and self.date_to is None:
            return True
        if info.date is None:
            return False
        return (self.date_from is None or info.date >= self.date_from) and (
            self.date_to is None or info.date <= self.date_to
        )


@dataclass(frozen=True)
class Copy:
    """Another article that carries the same story (a wire story in another outlet)."""

    article_id: str
    title: str


@dataclass(frozen=True)
class DayRef:
    """A relative day word in a quote ("Tuesday") and the day it means, from the article's
    date; start and end are offsets in the quote."""

    start: int
    end: int
    date: str  # ISO 8601 day
    label: str  # "11 August 2015"


@dataclass(frozen=True)
class Citation:
    """An exact passage of an article: quote == article.text[start:end]."""

    n: int
    article_id: str
    title: str
    chunk_id: str
    start: int
    end: int
    quote: str
    also_in: tuple[Copy, ...] = ()  # the same story in other articles
    date: int | None = None  # the article's date, Unix seconds (UTC), when known
    days: tuple[DayRef, ...] = ()  # its relative day words, resolved against that date


@dataclass(frozen=True)
class Turn:
    """One message of a conversation, oldest first."""

    role: str  # "user" or "assistant"
    content: str


@dataclass(frozen=True)
class Answer:
    """What a question gets back; mirrors the contract's Answer JSON."""

    question: str
    standalone_question: str
    answer: str
    short_answer: str | None
    answered: bool
    confidence: float
    citations: tuple[Citation, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    answerer: str = "extractive"  # which answerer wrote `answer`: "extractive" or "llm"
    # The dates the question named and the answer kept to: {"since", "until", "named"}.
    date_range: dict[str, str | None] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The contract's Answer JSON (api.schemas.AnswerOut documents and checks it)."""
        data = asdict(self)
        data["citations"] = [
            c | {"also_in": list(c["also_in"]), "days": list(c["days"])} for c in data["citations"]
        ]
        data["confidence"] = round(self.confidence, 4)
        data["timings_ms"] = {k: round(v, 2) for k, v in self.timings_ms.items()}
        return data


@dataclass(frozen=True)
class Failure:
    """A file or feed line that could not be ingested, and why."""

    where: str
    reason: str


@dataclass
class IngestReport:
    """Counts of one ingest run, printed as the final JSON line of `qa ingest --json`."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)

    def merge(self, other: IngestReport) -> None:
        """Adds another run's counts to these (an upload ingested in batches)."""
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.removed += other.removed
        self.chunks += other.chunks
        self.seconds += other.seconds
        self.failures += other.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": len(self.failures),
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
        }
