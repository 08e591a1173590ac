"""The application and the router: the API's routes around one :class:`Service`."""

from __future__ import annotations

from typing import Any, Unpack

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security

from lazyext._settings.config import Config
from lazyext._version import __version__
from lazyext.web import _extensions, _health, _plugins, _tasks
from lazyext.web._limits import route_class
from lazyext.web._methods import add_fallbacks
from lazyext.web._mount import mount
from lazyext.web._openapi import RESPONSES, App, bearer
from lazyext.web._security import Guard, GuardMiddleware, Refusal
from lazyext.web._service import Options, Service

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lazyext._settings.load import ConfigSource  # a type alias only

_DESCRIPTION = (
    "Manage lazyext's scheduled tasks, plugins and extension cache. Enabled plugins that "
    "define a FastAPI `router` are served under `/plugins/{id}/`. Errors: 404 unknown id, "
    "405 a method the path does not take (see `Allow`), 409 conflicting state, 413 body "
    "too large, 422 bad input; the body's `detail.fix` says what to change."
)


def build_router(service: Service, *, guarded: bool, lifespan: bool) -> APIRouter:
    """The API's routes under ``[web] prefix``; ``guarded``: check access here (no
    middleware does)."""
    settings = service.settings
    dependencies: list[Any] = []
    if service.guard.has_token:
        dependencies.append(Security(bearer))  # declares the scheme; the guard checks
    if guarded:
        dependencies.append(Depends(_guard_dependency(service.guard)))
    api = APIRouter(
        dependencies=dependencies,
        responses=RESPONSES,
        lifespan=service.lifespan if lifespan else None,
        route_class=route_class(settings.max_body_bytes, settings.max_upload_bytes),
    )
    _health.add_routes(api, service)
    _tasks.add_routes(api, service)
    _plugins.add_routes(api, service)
    _extensions.add_routes(api, service)
    add_fallbacks(api, service.guard if guarded else None)
    if guarded:
        service.routers.guard = service.guard
    mount(api, service.routers)
    if not settings.prefix:
        return api
    outer = APIRouter()  # the lifespan of `api` is merged into it
    outer.include_router(api, prefix=settings.prefix)
    return outer


def _guard_dependency(guard: Guard) -> Any:
    async def check_access(request: Request) -> None:
        try:
            guard.check(request.scope)
        except Refusal as refusal:
            raise HTTPException(
                refusal.status, detail=refusal.body()["detail"], headers=refusal.headers
            ) from None

    return check_access


def router(config: ConfigSource | Config = None, **options: Unpack[Options]) -> APIRouter:
    """An ``APIRouter`` with the whole API, for ``app.include_router(...)``.

    Every route checks access itself (the token, or local clients only). Managers it
    creates are started and stopped by its ``lifespan``, which FastAPI merges into the
    including application's. Arguments as for :class:`Service`; ``prefix`` (default
    ``[web] prefix``) comes before any prefix the including application adds.
    """
    return build_router(Service(config, **options), guarded=True, lifespan=True)


def create_app(config: ConfigSource | Config = None, **options: Unpack[Options]) -> FastAPI:
    """The ASGI application serving the API; ``app.state.lazyext`` is its :class:`Service`.

    Access is checked on every request by a middleware, the plugins' routes included;
    with a token, the OpenAPI document and the docs pages (no data) are served without
    it. ``prefix="/manager"`` (default ``[web] prefix``) serves the API's routes under
    that path (``/manager/tasks``, ...); ``/openapi.json`` and ``/docs`` stay at the
    root. Arguments as for :class:`Service`.
    """
    service = Service(config, **options)
    api = build_router(service, guarded=False, lifespan=False)
    # Its routes as they are, not include_router(api): FastAPI builds an included
    # router's routes again on the first request (0.1-0.2 s for this API's 27).
    app = App(
        title="lazyext",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=service.lifespan,
        routes=list(api.routes),
    )
    app.service = service
    app.state.lazyext = service
    app.add_middleware(GuardMiddleware, guard=service.guard, public=app.public_paths())
    return app
