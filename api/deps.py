"""Route dependencies: the service from app.state, settings, and API-key checks."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from qa.settings import Settings


def get_service(request: Request) -> Any:
    return request.app.state.service


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def require_key(request: Request) -> None:
    """With QA_API_KEYS set, every /v1 route needs `Authorization: Bearer KEY`."""
    keys: list[str] = request.app.state.settings.api_keys
    if not keys:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given_bytes = given.strip().encode()
    # Compare against every key, always, so timing says nothing about which one nearly matched.
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(given_bytes, key.encode())
    if scheme.lower() != "bearer" or not ok:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong API key: send `Authorization: Bearer KEY` with a key from "
            "QA_API_KEYS",
            headers={"WWW-Authenticate": "Bearer"},
        )


ServiceDep = Annotated[Any, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
