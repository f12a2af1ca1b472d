"""Wire schemas: what the HTTP API accepts and returns, every field described for /docs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from qa.types import EARLIEST, LATEST, MAX_ID_CHARS, SLUG

MAX_TURN_CHARS = 8000  # characters in one earlier turn or chat message
MAX_MESSAGES = 100  # messages in one chat completion request
MAX_CONTENT_PARTS = 20  # parts of one chat message given as a list
# Requests take JSON types as JSON Schema means them: a number is never "5", a boolean never
# "true" (StrictBool), and an integer may be written 5 or 5.0 but not true.
STRICT = ConfigDict(extra="forbid")


def _json_number(value: object) -> object:
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON number, not a string or a boolean")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_number)]
JsonFloat = Annotated[float, BeforeValidator(_json_number)]
TopK = Annotated[int, Field(ge=1, le=50), BeforeValidator(_json_number)]
UnixSeconds = Annotated[int, Field(ge=EARLIEST, le=LATEST), BeforeValidator(_json_number)]
Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", examples=["2015-08-12"])]


class Turn(BaseModel):
    """One earlier message of the conversation."""

    model_config = STRICT
    role: Literal["user", "assistant"] = Field(description="Who said it.")
    content: str = Field(max_length=MAX_TURN_CHARS, description="What was said.")


class FiltersIn(BaseModel):
    """Restricts retrieval; every field is optional."""

    model_config = STRICT
    article_ids: list[str] = Field(
        default_factory=list, max_length=1000, description="Only these articles."
    )
    sources: list[str] = Field(
        default_factory=list, max_length=100, description="Only articles from these sources."
    )
    date_from: UnixSeconds | None = Field(None, description="Published at or after (Unix seconds).")
    date_to: UnixSeconds | None = Field(None, description="Published at or before (Unix seconds).")


class AskRequest(BaseModel):
    """A question, optionally a follow-up in a conversation."""

    model_config = STRICT
    question: str = Field(
        min_length=1,
        pattern=r"\S",
        description="The question, at most QA_MAX_QUESTION_CHARS (2,000) characters.",
    )
    history: list[Turn] = Field(
        default_factory=list,
        description="Earlier turns, oldest first; at most QA_MAX_HISTORY (20).",
    )
    top_k: TopK | None = Field(None, description="Passages to read (default 5).")
    filters: FiltersIn | None = Field(None, description="Restrict retrieval.")
    since: Day | None = Field(
        None, description="Only articles dated on or after this day (YYYY-MM-DD, UTC)."
    )
    until: Day | None = Field(
        None, description="Only articles dated on or before this day (YYYY-MM-DD, UTC)."
    )


class ChatRequest(AskRequest):
    stream: StrictBool = Field(
        False,
        description="Answer as Server-Sent Events: `delta` events with "
        "text, then one `answer` event with the complete Answer JSON.",
    )


class CopyOut(BaseModel):
    article_id: str = Field(description="Another article carrying the same story.")
    title: str = Field(description="Its title.")


class DayOut(BaseModel):
    start: int = Field(description="Offset of the word in the quote.")
    end: int = Field(description="Its end in the quote.")
    date: str = Field(description="The day it means, YYYY-MM-DD.")
    label: str = Field(description="The same, for people: 11 August 2015.")


class DateRangeOut(BaseModel):
    since: str | None = Field(description="First day of the range (YYYY-MM-DD), or open.")
    until: str | None = Field(description="Last day of the range (YYYY-MM-DD), or open.")
    named: str = Field(description="How the question named it: 'March 2005', 'before 2005'.")


class CitationOut(BaseModel):
    n: int = Field(description="The number its [n] markers in `answer` use.")
    article_id: str = Field(description="The cited article.")
    title: str = Field(description="The article's title.")
    chunk_id: str = Field(description="`{article_id}:{n}` of the chunk the passage came from.")
    start: int = Field(description="Offset of the quote in the article text.")
    end: int = Field(description="End offset: `text[start:end] == quote`.")
    quote: str = Field(description="The exact passage.")
    date: int | None = Field(None, description="The article's date, Unix seconds, if known.")
    days: list[DayOut] = Field(
        default_factory=list,
        description="Relative day words in the quote ('on Tuesday', 'yesterday') and the day "
        "each means, counted from the article's date (none when it is unknown).",
    )
    also_in: list[CopyOut] = Field(
        description="The same story in other articles (copies and near copies, such as a "
        "wire story in several outlets); only the best-matching copy is searched and cited."
    )


class AnswerOut(BaseModel):
    """The Answer JSON of the contract."""

    question: str = Field(description="The question as asked.")
    standalone_question: str = Field(
        description="The question rewritten without the "
        "conversation (pronouns and ellipsis resolved)."
    )
    answer: str = Field(
        description="A short answer with [n] markers, or a plain statement that "
        "the articles do not say."
    )
    short_answer: str | None = Field(
        description="The shortest answering span (a name, number, date, place), or null."
    )
    answered: bool = Field(description="False when the articles do not support an answer.")
    confidence: float = Field(ge=0, le=1, description="How likely the answer is right.")
    citations: list[CitationOut] = Field(
        description="The passages the answer rests on (or the closest ones when it abstains)."
    )
    timings_ms: dict[str, float] = Field(description="retrieve, answer, total.")
    date_range: DateRangeOut | None = Field(
        None,
        description="The dates the question named, to which the answer kept its articles "
        "(only when the request gives no dates and some articles are dated).",
    )
    answerer: Literal["extractive", "llm"] = Field(
        description="Which answerer wrote `answer`: the extractive one (sentences quoted from "
        "the articles) or the LLM (its claims checked against the cited sentences)."
    )


class ArticleIn(BaseModel):
    """An article sent as JSON; the same id replaces the stored one."""

    model_config = STRICT
    id: str | None = Field(
        None,
        max_length=MAX_ID_CHARS,
        pattern=SLUG,
        description="Stable id, stored as given: lowercase letters and digits in words joined "
        "by dashes (`ferry-strike-2005`); default a slug of the title.",
    )
    title: str = Field(min_length=1, max_length=1000, description="Headline.")
    text: str = Field(min_length=1, description="Body text.")
    date: str | UnixSeconds | None = Field(
        None, description="ISO 8601 date or Unix seconds, within the years 1 to 9999."
    )
    source: str | None = Field(None, max_length=500, description="Publisher.")
    url: str | None = Field(None, max_length=2000, description="Where it was published.")


class ArticleSummary(BaseModel):
    id: str
    title: str
    source: str | None = None
    date: int | None = Field(None, description="Unix seconds.")
    url: str | None = None
    chunks: int = Field(description="How many chunks it was split into.")
    chars: int = Field(description="Length of its text.")
    copies: list[str] = Field(
        default_factory=list,
        description="Ids of the other articles that carry the same story (its group).",
    )


class ArticleOut(ArticleSummary):
    text: str = Field(description="The text citations point into.")


class QuoteOut(BaseModel):
    article_id: str
    title: str
    date: int | None = Field(None, description="The article's date, Unix seconds, if known.")
    chunk_id: str
    speaker: str = Field(description="Who said it, as the article names them in full.")
    verb: str = Field(description="How: said, denied, confirmed, according to, ...")
    direct: bool = Field(description="Quoted words, rather than reported speech.")
    said: str = Field(description="The quoted words, or the reported clause.")
    quote: str = Field(description="The quoting sentence: `text[start:end]` of the article.")
    start: int
    end: int


class IngestOut(BaseModel):
    added: int
    updated: int
    unchanged: int
    removed: int
    failed: int
    chunks: int
    seconds: float
    articles: list[str] = Field(description="Ids of the articles in the upload.")
    failures: list[dict[str, str]] = Field(description="What could not be indexed, and why.")


class ContentPart(BaseModel):
    """One part of a message given as a list; only text parts are read."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=50)
    text: str | None = Field(None, max_length=MAX_TURN_CHARS)


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: (
        Annotated[str, Field(max_length=MAX_TURN_CHARS)]
        | Annotated[list[ContentPart], Field(max_length=MAX_CONTENT_PARTS)]
        | None
    ) = Field(None, description=f"At most {MAX_TURN_CHARS} characters.")


# What messages must contain: a user message with text, the question. Its length bound is
# QA_MAX_QUESTION_CHARS, written in by api.server when it documents the configured bounds.
QUESTION_MESSAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "role": {"const": "user"},
        "content": {"type": "string", "pattern": r"\S"},
    },
    "required": ["role", "content"],
}


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completions request; the last user message is the question."""

    model: str = Field(
        "article-qa", max_length=200, description="Ignored beyond being echoed; use article-qa."
    )
    messages: list[ChatMessage] = Field(
        min_length=1,
        max_length=MAX_MESSAGES,
        description="The last user message with text is the question; the turns before it "
        "(the last QA_MAX_HISTORY of them) are the conversation.",
        json_schema_extra={"contains": QUESTION_MESSAGE},
    )
    stream: StrictBool = False
    temperature: JsonFloat | None = None
    max_tokens: JsonInt | None = None
    top_p: JsonFloat | None = None
    user: str | None = None


class JobOut(BaseModel):
    """A long upload being ingested in the background."""

    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    total: int = Field(description="Articles in the upload.")
    done: int = Field(description="Articles written so far.")
    status_url: str = Field(description="Where to follow it: GET this URL.")
    report: dict[str, Any] | None = Field(description="The counts, once done.")
    error: str | None = Field(description="Why it failed or stopped, if it did.")
    failures: list[dict[str, str]] = Field(description="Lines that could not be parsed.")


class ErrorOut(BaseModel):
    """Every error, whatever the route."""

    error: dict[str, str] = Field(description="`type` and a `message` that says how to fix it.")
