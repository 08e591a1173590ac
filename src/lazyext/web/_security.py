"""Who may call the API: a bearer token, or else only this machine's own clients.

With a token, every request must carry ``Authorization: Bearer <token>``; the check
compares SHA-256 digests with :func:`hmac.compare_digest` (constant time, and the
token's length does not leak either). Browsers never add that header on their own,
so a token also stops cross-site requests.

Without a token the API trusts local clients only, which takes three checks: the
connection must have arrived on a loopback address (a server bound to ``0.0.0.0``
answers other hosts nothing), the ``Host`` header must name a loopback host (DNS
rebinding: a web page whose name resolves to 127.0.0.1 is not local), and an
``Origin`` header, if any, must be a loopback origin (a page on another site may
post a form to 127.0.0.1 without any preflight: an upload that installs a plugin is
code execution).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Final
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

#: Whether the request being served carried the right token.
authorized: ContextVar[bool] = ContextVar("lazyext_web_authorized", default=False)
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of the local host."""
    host = host.strip().lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_of(authority: str) -> str:
    """The host of a ``Host`` header value (``[::1]:8000`` -> ``::1``)."""
    if authority.startswith("["):
        return authority[1 : authority.find("]")] if "]" in authority else authority
    host, _colon, port = authority.rpartition(":")
    return host if host and port.isdigit() else authority


class Refusal(Exception):
    """Why a request is refused: an HTTP status, a message and extra headers."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, object]:
        if self.status == 401:
            kind, fix = "Unauthorized", "send the server's API token as 'Authorization: Bearer'"
        else:
            kind, fix = "Forbidden", "call from this machine, or give the server an API token"
        detail = {"error": kind, "message": self.message, "problems": [self.message], "fix": fix}
        return {"detail": detail}


class Guard:
    """The access check of every request (``token=None``: local clients only)."""

    def __init__(self, token: str | None) -> None:
        self._digest = None if token is None else hashlib.sha256(token.encode()).digest()

    @property
    def has_token(self) -> bool:
        return self._digest is not None

    def check(self, scope: Scope) -> None:
        """Raise :class:`Refusal` unless the request in ``scope`` may go on."""
        headers = Headers(scope=scope)
        if self._digest is not None:
            scheme, _space, given = headers.get("authorization", "").partition(" ")
            digest = hashlib.sha256(given.strip().encode()).digest()
            if scheme.lower() != "bearer" or not hmac.compare_digest(digest, self._digest):
                raise Refusal(
                    401,
                    "missing or wrong API token: send 'Authorization: Bearer <token>' (the "
                    "server's LAZYEXT_API_TOKEN or [web] token)",
                    {"WWW-Authenticate": 'Bearer realm="lazyext"'},
                )
            return
        server = scope.get("server")
        if server and server[1] is not None and not is_loopback(str(server[0])):
            raise Refusal(
                403,
                f"this server is reachable on {server[0]} without an API token: only "
                "local clients are served; set LAZYEXT_API_TOKEN (or [web] token) to allow "
                "others",
            )
        host = headers.get("host")
        if host is not None and not is_loopback(_host_of(host)):
            raise Refusal(
                403,
                f"Host {host!r} is not a loopback name: without an API token only "
                "localhost, 127.0.0.1 and [::1] are accepted (DNS rebinding protection)",
            )
        origin = headers.get("origin")
        if origin is not None and not is_loopback(urlsplit(origin).hostname or origin):
            raise Refusal(
                403,
                f"cross-site request from {origin!r} refused: without an API token only "
                "local pages may call this API",
            )


class GuardMiddleware:
    """ASGI middleware applying a :class:`Guard` to every HTTP and WebSocket request.

    ``public``: paths served without the token when one is configured (GET and HEAD
    only): the OpenAPI document and the docs pages, which hold no data. They stay
    local-only when no token is configured."""

    def __init__(self, app: ASGIApp, guard: Guard, public: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.guard = guard
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            self.guard.check(scope)
        except Refusal as refusal:
            if not (
                refusal.status == 401
                and scope["type"] == "http"
                and scope.get("method") in ("GET", "HEAD")
                and scope.get("path") in self.public
            ):
                await refuse(refusal, scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        reset = authorized.set(self.guard.has_token)
        try:
            await self.app(scope, receive, send)
        finally:
            authorized.reset(reset)


async def refuse(refusal: Refusal, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer ``refusal``: a JSON response, or a policy-violation close for a WebSocket."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": refusal.message[:120]})
        return
    response = JSONResponse(refusal.body(), refusal.status, headers=refusal.headers)
    await response(scope, receive, send)
