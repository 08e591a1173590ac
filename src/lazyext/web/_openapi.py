"""The OpenAPI document: every error body as it is sent, and the token as a scheme.

Every status a route can answer is documented for it. Every error the API's own code
sends is an :class:`~lazyext.web.models.ErrorResponse`; two come from FastAPI and keep
its shape: a malformed request is a 422 whose
``detail`` lists the fields (:class:`~lazyext.web.models.ValidationErrorResponse`),
and a body that cannot be decoded at all is a 400 whose ``detail`` is a string.
:data:`RESPONSES` documents each status with the schema of what is really sent, so a
conformance checker (schemathesis) finds the document and the answers agree.

With an API token the document declares it as an HTTP bearer scheme, so ``/docs``
can authorize. The document and the docs pages describe the API and hold no data:
they are served without the token (Swagger UI fetches the document before you
authorize), but only an authorized caller sees the running plugins' routes in it.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPBearer

from lazyext.web._mount import plugin_routes
from lazyext.web._security import authorized
from lazyext.web._service import Service
from lazyext.web.models import ErrorResponse, PlainErrorResponse, ValidationErrorResponse

SCHEME: Final = "bearerAuth"
#: The token as OpenAPI declares it; the check itself is the Guard's (auto_error off).
bearer = HTTPBearer(
    auto_error=False,
    scheme_name=SCHEME,
    description="the server's API token (LAZYEXT_API_TOKEN or [web] token)",
)


def _error(text: str, model: Any = ErrorResponse) -> dict[str, Any]:
    return {"model": model, "description": text}


RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: _error(
        "the body cannot be decoded, or a multipart upload cannot be parsed",
        ErrorResponse | PlainErrorResponse,
    ),
    401: _error("missing or wrong API token"),
    403: _error("not a local client, and no token is configured"),
    404: _error("no task, plugin, snapshot or extension with that id (or a malformed id)"),
    409: _error("the request conflicts with the current state"),
    413: _error("the body is larger than [web] max-body-bytes (uploads: max-upload-bytes)"),
    422: _error(
        "bad input: FastAPI's per-field list for a malformed request, else lazyext's error",
        ValidationErrorResponse | ErrorResponse,
    ),
    500: _error("a server-side problem (lazyext's own error, logged with its traceback)"),
    503: _error("retry later: a lock is held, or the package index cannot be reached"),
}


class App(FastAPI):
    """FastAPI whose OpenAPI document also lists the routes of the running plugins."""

    service: Service

    def openapi(self) -> dict[str, Any]:
        # Not cached: plugins come and go while the server runs.
        guard = self.service.guard
        shown = authorized.get() or not guard.has_token
        extra = plugin_routes(self.service.routers) if shown else []
        document = get_openapi(
            title=self.title,
            version=self.version,
            openapi_version=self.openapi_version,
            description=self.description,
            routes=[*self.routes, *extra],
            tags=self.openapi_tags,
            servers=self.servers,
        )
        if guard.has_token:  # the plugins' routes need it too
            document["security"] = [{SCHEME: []}]
        return document

    def public_paths(self) -> frozenset[str]:
        """The document and the docs pages: no data, served without the token."""
        paths = (self.openapi_url, self.docs_url, self.redoc_url)
        extra = (self.swagger_ui_oauth2_redirect_url,) if self.docs_url else ()
        return frozenset(path for path in (*paths, *extra) if path)
