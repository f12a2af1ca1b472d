"""Route dependencies: the service, settings and upload jobs from app.state."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from api.jobs import Jobs
from qa.settings import Settings


def get_service(request: Request) -> Any:
    return request.app.state.service


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_jobs(request: Request) -> Jobs:
    return request.app.state.jobs  # type: ignore[no-any-return]


# Documents the bearer scheme in /openapi.json when QA_API_KEYS is set; api.limits.ApiKeys
# enforces it, before any body is read.
bearer = HTTPBearer(auto_error=False, description="A key from QA_API_KEYS.")

ServiceDep = Annotated[Any, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
JobsDep = Annotated[Jobs, Depends(get_jobs)]
