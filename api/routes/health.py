"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (it answers even while an ingest is running)."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Any:
    """The model is loaded and the index answers."""
    service = getattr(request.app.state, "service", None)
    if service is None:
        return JSONResponse({"status": "starting"}, 503)
    try:
        counts = service.counts()
    except Exception as exc:  # whatever the store raises, the answer is "not ready"
        return JSONResponse({"status": "unavailable", "reason": str(exc)}, 503)
    return {"status": "ready", "embed_model": service.embedder.name, **counts}


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
def metrics(request: Request) -> Response:
    """Prometheus text: requests, latencies, answers and abstentions, articles and chunks."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
