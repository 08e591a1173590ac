"""How large a request body may be, enforced before the body is read into memory.

Every route of the API is an :class:`APIRoute` made by :func:`route_class`: before
FastAPI reads a body, a declared ``Content-Length`` over the route's limit is a 413,
and the body is then read through a ``receive`` that counts the bytes as they
arrive, so a chunked body (which declares no length) is a 413 as soon as it passes
the limit. Nothing past the limit is buffered. The limit is ``[web]
max-body-bytes`` (default 1 MiB) for JSON bodies, ``max-upload-bytes`` plus room for
the multipart envelope for a plugin upload. Being part of the routes, the bound
holds in an application that includes :func:`lazyext.web.router` too; the plugins'
routes get the same bound from :class:`~lazyext.web._mount.PluginRouters`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message, Receive, Scope

from lazyext.web._errors import problem

#: What a multipart body may hold beyond the file: boundaries and part headers.
ENVELOPE: Final = 64 * 1024
#: The attribute that marks an endpoint taking an upload (see :func:`upload`).
_UPLOAD: Final = "_lazyext_upload"

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def upload(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``endpoint`` as taking an upload: its bound is ``max-upload-bytes``."""
    setattr(endpoint, _UPLOAD, True)
    return endpoint


def too_big(limit: int, *, uploading: bool) -> HTTPException:
    if uploading:
        return problem(
            413,
            "UploadTooLarge",
            f"the upload is larger than the limit of {limit} bytes",
            "raise [web] max-upload-bytes on the server if this plugin is genuine",
        )
    return problem(
        413,
        "RequestTooLarge",
        f"the request body is larger than the limit of {limit} bytes",
        "send a smaller body, or raise [web] max-body-bytes on the server",
    )


def check_declared(scope: Scope, limit: int, *, uploading: bool = False) -> None:
    """A 413 if the request declares a body over ``limit`` (nothing read yet)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            declared = value.strip()
            if declared.isdigit() and int(declared) > limit + (ENVELOPE if uploading else 0):
                raise too_big(limit, uploading=uploading)


def counting(receive: Receive, limit: int, *, uploading: bool = False) -> Receive:
    """``receive`` that raises a 413 once the body passes ``limit`` bytes."""
    allowed = limit + (ENVELOPE if uploading else 0)
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > allowed:
                raise too_big(limit, uploading=uploading)
        return message

    return counted


def route_class(max_body_bytes: int, max_upload_bytes: int) -> type[APIRoute]:
    """An :class:`APIRoute` whose requests are bounded as the module says."""

    class BoundedRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()
            uploading = bool(getattr(self.endpoint, _UPLOAD, False))
            limit = max_upload_bytes if uploading else max_body_bytes

            async def bounded(request: Request) -> Response:
                check_declared(request.scope, limit, uploading=uploading)
                receive = counting(request.receive, limit, uploading=uploading)
                return await handler(Request(request.scope, receive, request._send))

            return bounded

    return BoundedRoute
