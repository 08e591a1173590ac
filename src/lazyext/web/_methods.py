"""``OPTIONS`` and the methods a path does not take, answered with its full ``Allow``.

Starlette answers a method that no route of a path takes from the first route whose
path matches: ``OPTIONS /tasks`` was a 405 with ``Allow: GET``, though ``/tasks``
takes POST too (RFC 9110 wants every method of the resource listed). So
:func:`add_fallbacks` adds, after the API's own routes, one route per path that
matches every method. A route that takes the method still wins (Starlette prefers a
full match anywhere to a path-only match), so the fallback answers only the rest:
``OPTIONS`` with a 204 and the ``Allow`` list, any other method with a 405, the same
list and the usual error body. The fallbacks come before the plugins' catch-all
route, so ``GET /plugins/{id}/enable`` is the API's 405, never a plugin's route.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from lazyext.web._security import Guard, Refusal, refuse

#: The order methods are listed in ``Allow``.
_ORDER: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allow(methods: Iterable[str]) -> str:
    """The ``Allow`` value of a path taking ``methods`` (and ``OPTIONS``)."""
    taken = {*methods, "OPTIONS"}
    return ", ".join(sorted(taken, key=lambda m: (_ORDER.index(m) if m in _ORDER else 99, m)))


class Methods:
    """The ASGI app of a path's fallback route: what the path allows."""

    def __init__(self, path: str, methods: Iterable[str], guard: Guard | None) -> None:
        self.path = path
        self.allow = allow(methods)
        self.guard = guard  # set when no middleware checks requests (router() in a host app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.guard is not None:
            try:
                self.guard.check(scope)
            except Refusal as refusal:
                await refuse(refusal, scope, receive, send)
                return
        headers = {"Allow": self.allow}
        response: Response
        if scope["method"] == "OPTIONS":
            response = Response(status_code=204, headers=headers)
        else:
            message = f"{self.path} does not take {scope['method']}: it takes {self.allow}"
            detail = {
                "error": "MethodNotAllowed",
                "message": message,
                "problems": [message],
                "fix": "use one of the methods in the 'Allow' header",
            }
            response = JSONResponse({"detail": detail}, 405, headers=headers)
        await response(scope, receive, send)


def add_fallbacks(api: APIRouter, guard: Guard | None = None) -> None:
    """One fallback route per path of ``api``'s routes so far.

    Paths with fewer parameters come first: ``/extensions/warm`` is answered by its
    own fallback, not by the one of ``/extensions/{name}``, whose pattern matches it."""
    paths: dict[str, set[str]] = {}
    for route in api.routes:
        if isinstance(route, APIRoute):
            paths.setdefault(route.path, set()).update(route.methods or ())
    for path, methods in sorted(paths.items(), key=lambda item: item[0].count("{")):
        api.routes.append(Route(path, Methods(path, methods, guard), include_in_schema=False))
