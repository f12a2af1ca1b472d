"""article-qa inside llama-index: its hybrid search as a retriever, its answerer as a query engine.

    from qa.llamaindex import ArticleRetriever, ArticleQueryEngine
    retriever = ArticleRetriever(service, top_k=5)
    chat = CondensePlusContextChatEngine.from_defaults(retriever=retriever, llm=llm)
    response = ArticleQueryEngine(service).query("Who denied awareness of the airstrikes?")

Nodes carry exact offsets: `node.text == article_text[node.start_char_idx:node.end_char_idx]`,
and the article's id, title, source, date and url as metadata, so anything llama-index builds on
them can still point at the passage it used.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.schema import (
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)

from qa.index.retriever import Mode
from qa.service import Service
from qa.types import Answer, Citation, Filters, ScoredChunk, Turn

# Ids and links stay out of what llama-index shows an LLM or embeds; title, source and date
# go in, as a reader of the passage would want them.
_HIDDEN = ["article_id", "chunk_id", "url", "n", "timestamp"]


def _date(timestamp: int | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).date().isoformat()


def chunk_node(passage: ScoredChunk) -> NodeWithScore:
    """A retrieved chunk as a llama-index node with its fused retrieval score."""
    chunk = passage.chunk
    meta: dict[str, Any] = {
        "article_id": chunk.article_id,
        "chunk_id": chunk.id,
        "title": passage.title,
        "source": passage.source,
        "date": _date(passage.date),
        "timestamp": passage.date,
        "url": passage.url,
    }
    node = TextNode(
        id_=chunk.id,
        text=chunk.text,
        start_char_idx=chunk.start,
        end_char_idx=chunk.end,
        metadata={k: v for k, v in meta.items() if v is not None},
        excluded_llm_metadata_keys=_HIDDEN,
        excluded_embed_metadata_keys=_HIDDEN,
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=chunk.article_id)},
    )
    return NodeWithScore(node=node, score=passage.score)


def citation_node(citation: Citation, confidence: float) -> NodeWithScore:
    """A verified citation as a llama-index node: the exact quote and its article offsets."""
    node = TextNode(
        id_=f"{citation.chunk_id}@{citation.start}-{citation.end}",
        text=citation.quote,
        start_char_idx=citation.start,
        end_char_idx=citation.end,
        metadata={
            "n": citation.n,
            "article_id": citation.article_id,
            "chunk_id": citation.chunk_id,
            "title": citation.title,
        },
        excluded_llm_metadata_keys=_HIDDEN,
        excluded_embed_metadata_keys=_HIDDEN,
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=citation.article_id)},
    )
    return NodeWithScore(node=node, score=confidence)


class ArticleRetriever(BaseRetriever):
    """article-qa's search (BM25 and dense, fused by rank) as a llama-index retriever."""

    def __init__(
        self,
        service: Service,
        top_k: int | None = None,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
        **kwargs: Any,
    ) -> None:
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        super().__init__(**kwargs)
        self._service = service
        self._top_k = top_k
        self._filters = filters
        self._mode: Mode = mode

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        found = self._service.search(query_bundle.query_str, self._top_k, self._filters, self._mode)
        return [chunk_node(p) for p in found]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)


class ArticleQueryEngine(BaseQueryEngine):
    """Answers with article-qa's answerer: the Response's `source_nodes` are exactly the
    answer's verified citations and its `metadata` is the Answer JSON."""

    def __init__(
        self,
        service: Service,
        top_k: int | None = None,
        filters: Filters | None = None,
        history: list[Turn] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(callback_manager=kwargs.pop("callback_manager", None))
        self._service = service
        self._top_k = top_k
        self._filters = filters
        self._history = list(history or [])

    def answer(self, question: str) -> Answer:
        """The Answer itself, for callers that want the dataclass rather than a Response."""
        return self._service.ask(question, self._history, self._top_k, self._filters)

    def _query(self, query_bundle: QueryBundle) -> Response:
        answer = self.answer(query_bundle.query_str)
        return Response(
            response=answer.answer,
            source_nodes=[citation_node(c, answer.confidence) for c in answer.citations],
            metadata=answer.to_dict(),
        )

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return await asyncio.to_thread(self._query, query_bundle)

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}
