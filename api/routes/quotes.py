"""Who said what: GET /v1/quotes, the quotes found in the articles, with their speakers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.deps import ServiceDep
from api.schemas import ErrorOut, QuoteOut

router = APIRouter(prefix="/v1/quotes", tags=["articles"])


@router.get("", response_model=list[QuoteOut], responses={401: {"model": ErrorOut}})
def list_quotes(
    service: ServiceDep,
    speaker: str | None = Query(
        None, max_length=200, description="Only this speaker's: every word of it in the name."
    ),
    q: str | None = Query(None, max_length=200, description="Only quotes holding these words."),
    limit: int = Query(200, ge=1, le=5000, description="At most this many."),
) -> Any:
    """Direct and reported quotes with their speakers (surnames and pronouns resolved to the
    full name the article gives) and the exact offsets of the quoting sentence."""
    found = service.quotes(speaker.strip() if speaker else None)
    if q:
        words = " ".join(q.lower().split())
        found = [
            (quote, a) for quote, a in found if words in " ".join(quote.sentence.lower().split())
        ]
    return [
        {
            "article_id": article.id,
            "title": article.title,
            "date": article.date,
            "chunk_id": f"{article.id}:{quote.piece}",
            "speaker": quote.speaker,
            "verb": quote.verb,
            "direct": quote.direct,
            "said": quote.said,
            "quote": quote.sentence,
            "start": quote.start,
            "end": quote.end,
        }
        for quote, article in found[:limit]
    ]
