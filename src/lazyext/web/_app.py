"""The application and the router: what they serve, and the managers behind them.

A :class:`Service` holds what the API works on: the config, a
:class:`~lazyext.PluginManager`, a :class:`~lazyext.TaskManager` and the access
guard. Managers it creates are its own: the application's lifespan starts them
(plugins recorded as enabled are enabled, hot reload and the scheduler start) and
stops them. Managers handed in are left to their owner.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security
from starlette.concurrency import run_in_threadpool

from lazyext.web import _extensions, _health, _plugins, _tasks
from lazyext.web._limits import route_class
from lazyext.web._mount import PluginRouters, mount
from lazyext.web._openapi import RESPONSES, App, bearer
from lazyext.web._security import Guard, GuardMiddleware, Refusal
from lazyext.web._settings import WebSettings, web_settings

if TYPE_CHECKING:
    from lazyext._settings.config import Config
    from lazyext._settings.load import ConfigSource
    from lazyext.plugins import PluginManager
    from lazyext.tasks import TaskManager

logger = logging.getLogger("lazyext.web")

_DESCRIPTION = (
    "Manage lazyext's scheduled tasks, plugins and extension cache. Enabled plugins that "
    "define a FastAPI `router` are served under `/plugins/{id}/`. Errors: 404 unknown id, "
    "409 conflicting state, 413 body too large, 422 bad input; the body's `detail.fix` "
    "says what to change."
)


class Options(TypedDict, total=False):
    """The keyword arguments of :func:`create_app` and :func:`router` after ``config``."""

    plugins: PluginManager | None
    tasks: TaskManager | None
    token: str | None
    max_upload_bytes: int | None
    max_body_bytes: int | None
    scheduler: bool | None
    prefix: str | None


class Service:
    """The config, managers, settings and guard one API serves.

    ``config`` is what :func:`lazyext.activate` takes (or a loaded config). ``plugins``
    and ``tasks``: managers to use (default: new ones on the config's data directory,
    started and stopped by the application's lifespan). ``token``,
    ``max_upload_bytes``, ``max_body_bytes``, ``scheduler`` and ``prefix`` override
    the ``[web]`` table.
    """

    def __init__(
        self,
        config: ConfigSource | Config = None,
        *,
        plugins: PluginManager | None = None,
        tasks: TaskManager | None = None,
        token: str | None = None,
        max_upload_bytes: int | None = None,
        max_body_bytes: int | None = None,
        scheduler: bool | None = None,
        prefix: str | None = None,
    ) -> None:
        from lazyext._settings.config import Config
        from lazyext._settings.load import load
        from lazyext.plugins import PluginManager
        from lazyext.tasks import TaskManager

        if isinstance(config, Config):
            self.config = config
        elif config is None and plugins is not None:
            self.config = plugins.config
        else:
            self.config = load(config, {})
        overrides = {
            "token": token,
            "max_upload_bytes": max_upload_bytes,
            "max_body_bytes": max_body_bytes,
            "scheduler": scheduler,
            "prefix": prefix,
        }
        self.settings: WebSettings = web_settings(self.config, overrides)
        self.guard = Guard(self.settings.token)
        self._own_plugins = plugins is None
        self.plugins = plugins if plugins is not None else PluginManager(self.config)
        self._own_tasks = tasks is None
        self.tasks = tasks if tasks is not None else TaskManager(self.config)
        self.routers = PluginRouters(
            self.plugins, max_body_bytes=self.settings.max_body_bytes, prefix=self.settings.prefix
        )

    def start(self) -> None:
        """Start the managers this service created (plugins, then the scheduler)."""
        if self._own_plugins:
            for plugin_id, error in self.plugins.start().items():
                logger.warning("plugin %s was not enabled: %s", plugin_id, error)
        if self._own_tasks and self.settings.scheduler and not self.tasks.running:
            self.tasks.start()

    def stop(self) -> None:
        if self._own_tasks:
            # Not waiting for running tasks, as `lazyext scheduler` does not: a run that
            # never returns must not keep the server from stopping (it is recorded as
            # interrupted).
            self.tasks.shutdown(wait=False)
        if self._own_plugins:
            self.plugins.close()

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        """Start on application startup, stop on shutdown (for ``lifespan=``)."""
        await run_in_threadpool(self.start)
        try:
            yield
        finally:
            await run_in_threadpool(self.stop)


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
    from lazyext._version import __version__

    service = Service(config, **options)
    app = App(
        title="lazyext", version=__version__, description=_DESCRIPTION, lifespan=service.lifespan
    )
    app.service = service
    app.state.lazyext = service
    app.add_middleware(GuardMiddleware, guard=service.guard, public=app.public_paths())
    app.include_router(build_router(service, guarded=False, lifespan=False))
    return app
