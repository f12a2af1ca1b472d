"""Questions: /v1/ask, /v1/chat (optionally streamed), /v1/chat/completions (OpenAI-compatible)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ServiceDep, SettingsDep
from api.library import Library
from api.schemas import (
    AnswerOut,
    AskRequest,
    ChatCompletionRequest,
    ChatRequest,
    ContentPart,
    ErrorOut,
)
from qa.errors import InvalidRequest
from qa.types import Answer, Filters, Turn

router = APIRouter(prefix="/v1", tags=["questions"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    413: {"model": ErrorOut},
    409: {"model": ErrorOut},
    422: {"model": ErrorOut},
}


def answer_question(
    service: Library,
    question: str,
    history: list[Turn],
    top_k: int | None = None,
    filters: Filters | None = None,
) -> Answer:
    """Asks the library, which checks every bound (QA_MAX_QUESTION_CHARS, QA_MAX_HISTORY)."""
    return service.ask(question, history, top_k, filters)


def _from_body(body: AskRequest) -> tuple[list[Turn], Filters | None]:
    turns = [Turn(t.role, t.content) for t in body.history]
    f = body.filters
    since, until = _day(body.since, "since"), _day(body.until, "until")
    if f is None and since is None and until is None:
        return turns, None
    # `until` names a whole day: articles dated any time on it are in.
    end = None if until is None else until + 86_399
    date_from = _bound(max, f.date_from if f else None, since)
    date_to = _bound(min, f.date_to if f else None, end)
    ids, sources = (tuple(f.article_ids), tuple(f.sources)) if f else ((), ())
    return turns, Filters(ids, sources, date_from, date_to)


def _bound(pick: Any, *values: int | None) -> int | None:
    """The tighter of the bounds given (pick: max for a lower bound, min for an upper)."""
    given = [v for v in values if v is not None]
    return pick(given) if given else None


def _day(value: str | None, name: str) -> int | None:
    """A YYYY-MM-DD day as the Unix seconds of its midnight (UTC)."""
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be a day as YYYY-MM-DD, got {value!r}") from None
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


@router.post("/ask", response_model=AnswerOut, responses=ERRORS)
def ask(body: AskRequest, service: ServiceDep, request: Request) -> Any:
    """Answer a question; `history` makes it a follow-up."""
    turns, filters = _from_body(body)
    answer = answer_question(service, body.question, turns, body.top_k, filters)
    request.app.state.metrics.answered(answer.answered)
    return answer.to_dict()


@router.post(
    "/chat",
    response_model=AnswerOut,
    responses={
        **ERRORS,
        200: {
            "content": {"text/event-stream": {}},
            "description": "The Answer JSON, or "
            "with `stream: true` `delta` events then one `answer` event.",
        },
    },
)
async def chat(body: ChatRequest, service: ServiceDep, request: Request) -> Any:
    """The same as /v1/ask; with `stream: true` as Server-Sent Events."""
    turns, filters = _from_body(body)
    answer = await run_in_threadpool(
        answer_question, service, body.question, turns, body.top_k, filters
    )
    request.app.state.metrics.answered(answer.answered)
    if not body.stream:
        return JSONResponse(answer.to_dict())

    async def events() -> AsyncIterator[dict[str, str]]:
        for piece in pieces(answer.answer):
            yield {"event": "delta", "data": json.dumps({"text": piece})}
        yield {"event": "answer", "data": json.dumps(answer.to_dict(), ensure_ascii=False)}

    return EventSourceResponse(events())


def pieces(text: str) -> Iterator[str]:
    """The answer in word-sized pieces, spaces kept, so clients can show it as it comes."""
    yield from re.findall(r"\S+\s*|\s+", text)


@router.post(
    "/chat/completions",
    responses={
        **ERRORS,
        200: {
            "content": {"application/json": {}, "text/event-stream": {}},
            "description": "A chat completion, or with `stream: true` its chunks as "
            "Server-Sent Events ending in `data: [DONE]`.",
        },
    },
)
async def chat_completions(
    body: ChatCompletionRequest, service: ServiceDep, settings: SettingsDep, request: Request
) -> Any:
    """OpenAI-compatible: the last user message is the question, earlier ones the history.
    Citations come as numbered footnotes in the content and as a `citations` field."""
    question, turns = _conversation(body, settings.max_history)
    answer = await run_in_threadpool(answer_question, service, question, turns)
    request.app.state.metrics.answered(answer.answered)
    content = with_footnotes(answer)
    citations = answer.to_dict()["citations"]
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if not body.stream:
        return {
            "id": ident,
            "object": "chat.completion",
            "created": created,
            "model": "article-qa",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": len(question.split()),
                "completion_tokens": len(content.split()),
                "total_tokens": len(question.split()) + len(content.split()),
            },
            "citations": citations,
            "answered": answer.answered,
            "confidence": answer.confidence,
        }

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        payload = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": "article-qa",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    async def stream() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        for piece in pieces(content):
            yield chunk({"content": piece})
        yield chunk({}, "stop", citations=citations, answered=answer.answered)
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


def with_footnotes(answer: Answer) -> str:
    if not answer.citations:
        return answer.answer
    notes = "\n".join(
        f"[{c.n}] {c.title}: \u201c{' '.join(c.quote.split())}\u201d" for c in answer.citations
    )
    return f"{answer.answer}\n\n{notes}"


def _conversation(body: ChatCompletionRequest, max_history: int) -> tuple[str, list[Turn]]:
    """The question (the last user message with text) and the turns before it, the last
    max_history of them: a long chat goes on with its recent context."""
    messages = [
        (m.role, _text(m.content)) for m in body.messages if m.role in ("user", "assistant")
    ]
    asked = [i for i, (role, text) in enumerate(messages) if role == "user" and text.strip()]
    if not asked:
        raise InvalidRequest("messages need at least one user message with text: the question")
    last = asked[-1]
    history = [Turn(role, text) for role, text in messages[:last]]
    return messages[last][1], history[-max_history:] if max_history else []


def _text(content: str | list[ContentPart] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(part.text or "" for part in content if part.type == "text")
