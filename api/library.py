"""The library as the HTTP API sees it: a Protocol of what the routes call, which
qa.service.Service implements."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from qa.quotes import Quote
from qa.types import Answer, Article, ArticleInfo, Failure, Filters, IngestReport, Turn


class Embedding(Protocol):
    name: str


class Library(Protocol):
    """The part of qa.service.Service the HTTP API uses."""

    @property
    def embedder(self) -> Embedding: ...

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        top_k: int | None = None,
        filters: Filters | None = None,
    ) -> Answer: ...

    def articles(self) -> list[ArticleInfo]: ...

    def article(self, article_id: str) -> tuple[ArticleInfo, str]: ...

    def add_articles(
        self,
        items: Iterable[Article | Failure],
        progress: Callable[[int], None] | None = None,
        batch: int | None = None,
    ) -> IngestReport: ...

    def remove(self, article_id: str) -> None: ...

    def counts(self) -> dict[str, int]: ...

    def quotes(self, speaker: str | None = None) -> list[tuple[Quote, ArticleInfo]]: ...
