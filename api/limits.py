"""The HTTP edge as plain ASGI middleware: host and origin checks, API keys, request body
limits and deadlines, and security headers. Each refuses before the app reads anything."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Methods that change nothing, which another site may send (CORS still guards what it reads).
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class _Refused(Exception):
    """The middleware has answered; whatever the app makes of the cut-off body is dropped."""


async def reply(
    send: Send,
    status: int,
    kind: str,
    message: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Sends the API's one error shape, `{"error": {"type", "message"}}`, and closes."""
    body = json.dumps({"error": {"type": kind, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return None


def host_name(host: str) -> str:
    """The name in a Host header, without the port: "[::1]:8000" -> "::1"."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class HostCheck:
    """Answers only to the configured host names, so a page on a rebound DNS name cannot read
    a local server (DNS rebinding)."""

    def __init__(self, app: ASGIApp, names: Sequence[str]) -> None:
        self.app = app
        self.names = {n.strip("[]").lower() for n in names}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "*" in self.names:
            await self.app(scope, receive, send)
            return
        host = host_name(_header(scope, b"host") or "")
        if host not in self.names:
            await reply(
                send,
                400,
                "invalid_host",
                f"this server does not answer to the host name {host!r}; add it to "
                "QA_ALLOWED_HOSTS if it is meant to",
            )
            return
        await self.app(scope, receive, send)


class OriginCheck:
    """Refuses requests that change state when a browser says they come from another site:
    a form or multipart POST needs no CORS preflight, so CORS alone cannot stop it."""

    def __init__(self, app: ASGIApp, allowed: Sequence[str]) -> None:
        self.app = app
        self.allowed = {o.rstrip("/").lower() for o in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        own = f"{scope.get('scheme', 'http')}://{_header(scope, b'host') or ''}".lower()
        if origin is not None:
            foreign = origin.rstrip("/").lower() not in self.allowed | {own}
        else:  # a browser that sends no Origin still sends its fetch metadata
            foreign = _header(scope, b"sec-fetch-site") == "cross-site"
        if foreign:
            await reply(
                send,
                403,
                "cross_origin",
                f"requests from {origin or 'another site'} may not change anything here; "
                "add that origin to QA_CORS_ORIGINS to allow it",
            )
            return
        await self.app(scope, receive, send)


class ApiKeys:
    """With keys set, every /v1 route needs `Authorization: Bearer KEY`, checked before the
    request body is read."""

    def __init__(self, app: ASGIApp, keys: Sequence[str]) -> None:
        self.app = app
        self.keys = [k.encode() for k in keys]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guarded = (
            scope["type"] == "http"
            and bool(self.keys)
            and scope["path"].startswith("/v1")
            and scope["method"] != "OPTIONS"  # CORS preflights carry no credentials
        )
        if not guarded or self.allows(_header(scope, b"authorization")):
            await self.app(scope, receive, send)
            return
        await reply(
            send,
            401,
            "unauthorized",
            "missing or wrong API key: send `Authorization: Bearer KEY` with a key from "
            "QA_API_KEYS",
            [(b"www-authenticate", b"Bearer")],
        )

    def allows(self, authorization: str | None) -> bool:
        scheme, _, given = (authorization or "").partition(" ")
        given_bytes = given.strip().encode()
        # Compare against every key, always, so timing says nothing about which nearly matched.
        ok = False
        for key in self.keys:
            ok |= hmac.compare_digest(given_bytes, key)
        return scheme.lower() == "bearer" and ok


class BodyLimit:
    """Refuses bodies over the limit with 413 before reading them (by Content-Length when it
    is sent, else by counting the streamed bytes), and bodies that stop arriving with 408."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._too_large(send)
            return
        seen = 0
        complete = started = refused = False

        async def limited_receive() -> Message:
            nonlocal seen, complete, refused
            if complete:  # the body is in; what follows (a disconnect) may take any time
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                refused = True
                if not started:
                    await reply(
                        send,
                        408,
                        "request_timeout",
                        f"the request body did not arrive within {self.timeout_s:g} s",
                    )
                raise _Refused from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > self.max_bytes and not refused:
                    refused = True
                    if not started:
                        await self._too_large(send)
                    raise _Refused
            else:
                complete = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_Refused):
            await self.app(scope, limited_receive, tracking_send)

    async def _too_large(self, send: Send) -> None:
        await reply(
            send,
            413,
            "payload_too_large",
            f"the request body is over {self.max_bytes / 1e6:g} MB; raise QA_MAX_UPLOAD_MB or "
            "send a smaller file",
        )


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# FastAPI's generated API docs start Swagger UI and ReDoc with an inline script; they show no
# user content, so they alone may run inline script.
DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)


class SecurityHeaders:
    """A strict Content-Security-Policy (no inline script) and friends on every response,
    the refusals of the middleware inside it included."""

    DOCS = ("/docs", "/redoc", "/docs/oauth2-redirect")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_CSP if scope["path"] in self.DOCS else CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-security-policy", policy.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)
