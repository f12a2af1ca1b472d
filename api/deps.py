"""What the routes depend on: the library as a Protocol of what they call, the settings and
the upload jobs, all from app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from api.jobs import Jobs
from api.library import Library
from qa.settings import Settings


def get_service(request: Request) -> Library:
    return request.app.state.service  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_jobs(request: Request) -> Jobs:
    return request.app.state.jobs  # type: ignore[no-any-return]


# Documents the bearer scheme in /openapi.json when QA_API_KEYS is set; api.limits.ApiKeys
# enforces it, before any body is read.
bearer = HTTPBearer(auto_error=False, description="A key from QA_API_KEYS.")

ServiceDep = Annotated[Library, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
JobsDep = Annotated[Jobs, Depends(get_jobs)]
