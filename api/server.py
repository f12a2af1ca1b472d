"""The FastAPI app: create_app(settings), and run() for `qa serve`."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import bearer
from api.jobs import Jobs
from api.library import Library
from api.limits import ApiKeys, BodyLimit, HostCheck, OriginCheck, SecurityHeaders
from api.metrics import Metrics, MetricsMiddleware
from api.routes import articles, ask, health, quotes
from qa import errors
from qa.settings import Settings

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"

# The one place library errors become HTTP statuses.
STATUS = {
    errors.ArticleNotFound: 404,
    errors.ArticleError: 422,
    errors.InvalidRequest: 422,
    errors.IndexEmpty: 409,
    errors.StoreUnavailable: 503,
    errors.IndexLocked: 503,
    errors.IndexMismatch: 503,
    errors.CitationError: 500,
}


def create_app(settings: Settings, service: Library | None = None) -> FastAPI:
    """The app over a Service opened in its lifespan (or the one given, for tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = service is None
        if owned:
            from qa.service import Service

            opened: Library = await run_in_threadpool(Service, settings)
            app.state.service = opened
            # Load the answerer's models and read the index now, not on the first question.
            await run_in_threadpool(lambda: app.state.service.answerer)
            await run_in_threadpool(app.state.service.retriever.refresh)
        else:
            app.state.service = service
        app.state.jobs = Jobs(app.state.service)
        try:
            yield
        finally:
            await run_in_threadpool(app.state.jobs.close)
            if owned:
                app.state.service.close()

    app = FastAPIOffline(
        title="article-qa",
        version="0.1.0",
        summary="Answers from news articles, every claim cited to its exact passage.",
        lifespan=lifespan,
        static_url="/static-docs",
    )
    app.state.settings = settings
    app.state.metrics = Metrics(lambda: app.state.service.counts())
    _install_errors(app)
    keyed = [Depends(bearer)] if settings.api_keys else []  # documents the scheme
    app.include_router(ask.router, dependencies=keyed)
    app.include_router(articles.router, dependencies=keyed)
    app.include_router(articles.jobs_router, dependencies=keyed)
    app.include_router(quotes.router, dependencies=keyed)
    app.include_router(health.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def chat_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    # Innermost first: each layer refuses before the ones inside it (and the app) do any work,
    # and every refusal still gets the security headers and is counted.
    app.add_middleware(
        BodyLimit,
        max_bytes=int(settings.max_upload_mb * 1_000_000),
        timeout_s=settings.body_timeout_s,
    )
    app.add_middleware(ApiKeys, keys=settings.api_keys)
    app.add_middleware(OriginCheck, allowed=settings.cors_origins)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(HostCheck, names=settings.host_names())
    app.add_middleware(SecurityHeaders)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    _document_bounds(app, settings)
    return app


def _document_bounds(app: FastAPI, settings: Settings) -> None:
    """Writes the configured request bounds into /openapi.json, so the schema says what this
    server accepts (QA_MAX_QUESTION_CHARS, QA_MAX_HISTORY)."""
    make = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = make()
            parts = schema.get("components", {}).get("schemas", {})
            for name in ("AskRequest", "ChatRequest"):
                props = parts.get(name, {}).get("properties", {})
                if "question" in props:
                    props["question"]["maxLength"] = settings.max_question_chars
                if "history" in props:
                    props["history"]["maxItems"] = settings.max_history
            messages = parts.get("ChatCompletionRequest", {}).get("properties", {})
            contains = messages.get("messages", {}).get("contains", {})
            if "content" in contains.get("properties", {}):
                contains["properties"]["content"]["maxLength"] = settings.max_question_chars
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _error(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status, headers=headers)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(errors.QAError)
    async def qa_error(request: Request, exc: errors.QAError) -> JSONResponse:
        status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 500)
        if status >= 500:
            log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc)
        return _error(status, exc.code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = (
            f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "invalid")
        )
        return _error(422, "invalid_request", message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's word for a body it could not parse
            return _error(422, "invalid_request", f"the request body is malformed: {exc.detail}")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        kinds = {
            401: "unauthorized",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
        }
        return _error(
            exc.status_code,
            kinds.get(exc.status_code, "http_error"),
            str(exc.detail),
            headers or None,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return _error(500, "internal_error", "something went wrong on the server; see its log")


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: each process reads QA_* itself."""
    return create_app(Settings())


def run(settings: Settings, workers: int = 1) -> None:
    """`qa serve`: uvicorn on QA_HOST:QA_PORT."""
    import os

    import uvicorn

    if not settings.api_keys and not _is_loopback(settings.host):
        log.warning(
            "serving on %s without QA_API_KEYS: anyone who can reach it can read and "
            "change the articles",
            settings.host,
        )
        print(f"warning: serving on {settings.host} without QA_API_KEYS set", flush=True)
    if settings.host_names() == ["*"]:
        print(
            "warning: any Host name is accepted; set QA_ALLOWED_HOSTS to the names clients use",
            flush=True,
        )
    print(
        f"article-qa: chat page and API on http://{settings.host}:{settings.port} "
        f"(docs at /docs); Ctrl+C stops it",
        flush=True,
    )
    if workers > 1:
        # Each worker builds its own Settings from the environment, so pass these through it.
        os.environ.update({"QA_HOST": settings.host, "QA_PORT": str(settings.port)})
        uvicorn.run(
            "api.server:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level="warning",
        )
    else:
        uvicorn.run(
            create_app(settings), host=settings.host, port=settings.port, log_level="warning"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
