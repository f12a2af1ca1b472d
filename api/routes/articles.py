"""Articles: list, read (with text, so citation offsets can be checked), add, delete."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from api.deps import JobsDep, ServiceDep, SettingsDep
from api.schemas import ArticleIn, ArticleOut, ArticleSummary, ErrorOut, IngestOut, JobOut
from qa.errors import InvalidRequest
from qa.ingest.articles import (
    SUFFIXES,
    article_from_record,
    decode,
    file_type,
    parse_document,
    parse_feed,
    slugify,
)
from qa.types import Article, ArticleInfo, Failure

router = APIRouter(prefix="/v1/articles", tags=["articles"])
jobs_router = APIRouter(prefix="/v1/jobs", tags=["articles"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    413: {"model": ErrorOut},
    422: {"model": ErrorOut},
}


def _summary(info: ArticleInfo) -> dict[str, Any]:
    return ArticleSummary.model_validate(info, from_attributes=True).model_dump()


@router.get("", response_model=list[ArticleSummary])
def list_articles(service: ServiceDep, q: str | None = None) -> Any:
    """Every indexed article; `q` keeps those whose title or id contains it."""
    items = service.articles()
    if q:
        needle = q.lower()
        items = [a for a in items if needle in a.title.lower() or needle in a.id]
    return [_summary(a) for a in items]


@router.get("/{article_id}", response_model=ArticleOut, responses=ERRORS)
def get_article(article_id: str, service: ServiceDep) -> Any:
    """One article with its text."""
    info, text = service.article(article_id)
    return {**_summary(info), "text": text}


@router.delete("/{article_id}", status_code=204, responses=ERRORS)
def delete_article(article_id: str, service: ServiceDep) -> Response:
    """Remove an article; it is never cited again."""
    service.remove(article_id)
    return Response(status_code=204)


UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ArticleIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": f"One article file: {', '.join(SUFFIXES)}",
                        }
                    },
                }
            },
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=IngestOut,
    responses={
        **ERRORS,
        202: {
            "model": JobOut,
            "description": "A long upload, ingested as a background job.",
            "links": {
                "GetJob": {"operationId": "get_job", "parameters": {"job_id": "$response.body#/id"}}
            },
        },
    },
    openapi_extra=UPLOAD_DOC,
)
async def add_article(
    request: Request, service: ServiceDep, settings: SettingsDep, jobs: JobsDep
) -> Any:
    """Add or replace articles: a JSON article, or a file (multipart field `file`).

    An upload of more than QA_UPLOAD_JOB_ARTICLES articles is answered at once with 202 and
    the URL of a job that reports its progress."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=5)
        except HTTPException as exc:  # Starlette's word for a malformed multipart body
            raise InvalidRequest(f"malformed multipart body: {exc.detail}") from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidRequest("send the article as a multipart field named `file`")
        name = PurePath(upload.filename or "upload.txt").name
        data = await upload.read()
        items = await run_in_threadpool(_parse_upload, name, data)
    elif content_type.startswith("application/json"):
        try:
            body = ArticleIn.model_validate_json(await request.body())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidRequest(f"{where}: {first['msg']}" if where else first["msg"]) from None
        items = [article_from_record(body.model_dump(exclude_none=True))]
    else:
        raise InvalidRequest("send application/json (an article) or multipart/form-data (a file)")
    if len(items) > settings.max_upload_articles:
        raise HTTPException(
            413,
            f"the upload holds {len(items)} articles; the limit is "
            f"{settings.max_upload_articles} (QA_MAX_UPLOAD_ARTICLES): split it",
        )
    articles = [i for i in items if isinstance(i, Article)]
    failures = [i for i in items if isinstance(i, Failure)]
    if len(articles) > settings.upload_job_articles:
        job = jobs.submit(articles, failures)
        return JSONResponse(job.to_dict(), 202, headers={"location": f"/v1/jobs/{job.id}"})
    report = await run_in_threadpool(service.add_articles, articles) if articles else None
    out = {
        **(
            report.to_dict()
            if report
            else {
                "added": 0,
                "updated": 0,
                "unchanged": 0,
                "removed": 0,
                "chunks": 0,
                "seconds": 0.0,
            }
        ),
        "failed": len(failures),
        "articles": [a.id for a in articles],
        "failures": [{"where": f.where, "reason": f.reason} for f in failures],
    }
    if not articles:
        reason = failures[0].reason if failures else "no articles in the upload"
        return JSONResponse({"error": {"type": "article_error", "message": reason}, **out}, 422)
    return out


@jobs_router.get("/{job_id}", response_model=JobOut, responses=ERRORS, operation_id="get_job")
def get_job(job_id: str, jobs: JobsDep) -> Any:
    """The progress of an upload running as a job, and its report once done."""
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(
            404,
            f"no upload job {job_id!r} (finished jobs are kept for a while, and only by the "
            "server process that ran them)",
        )
    return job.to_dict()


def _parse_upload(name: str, data: bytes) -> list[Article | Failure]:
    suffix = file_type(name)
    text = decode(data)
    if suffix == ".jsonl":
        return list(parse_feed(text, name))
    return [parse_document(text, suffix, slugify(PurePath(name).stem))]
