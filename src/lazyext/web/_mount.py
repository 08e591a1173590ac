"""Plugin routers, served under ``/plugins/<id>/`` while the plugin is enabled.

A plugin contributes HTTP routes with a FastAPI ``APIRouter`` named ``router``: an
attribute of its entry object, of its package, or of its entry module (first found).
Nothing is added to the application's route table when a plugin is enabled: one
catch-all route, ``/plugins/{plugin_id}/{path:path}``, looks the plugin up on every
request and hands the request to its router. So disabling, uninstalling, reloading
or upgrading a plugin (here, or in another process followed by hot reload) changes
what answers at once, without a restart, and with no hook in the plugin manager.

The lookup is lock-free (:meth:`PluginManager.get` reads a dict): the event loop
never waits for an enable that is installing dependencies. The router found for an
entry object is remembered until the entry object changes (a reload makes a new one).
The API's own paths (``/plugins/{id}/enable``, ...) come first and win over a
plugin's routes of the same path, whatever the method (:mod:`lazyext.web._methods`).
"""

from __future__ import annotations

import logging
import sys
import threading
from types import ModuleType
from typing import Final

from fastapi import APIRouter, HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from lazyext.plugins import PluginError, PluginManager
from lazyext.web._limits import check_declared, counting
from lazyext.web._security import Guard, Refusal, refuse

logger = logging.getLogger("lazyext.web")

PREFIX: Final = "/plugins"
ROUTE: Final = PREFIX + "/{plugin_id}/{path:path}"


class PluginRouters:
    """The ASGI app behind the catch-all route: finds and calls a plugin's router."""

    def __init__(
        self,
        manager: PluginManager,
        guard: Guard | None = None,
        *,
        max_body_bytes: int = 1024 * 1024,
        prefix: str = "",
    ) -> None:
        self.manager = manager
        self.guard = guard  # set when no middleware checks requests (router() in a host app)
        self.max_body_bytes = max_body_bytes
        self.api_prefix = prefix  # where the API is served ([web] prefix)
        self._found: dict[str, tuple[object, APIRouter | None]] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.guard is not None:
            try:
                self.guard.check(scope)
            except Refusal as refusal:
                await refuse(refusal, scope, receive, send)
                return
        check_declared(scope, self.max_body_bytes)  # a plugin's bodies are bounded too
        receive = counting(receive, self.max_body_bytes)
        plugin_id = scope["path_params"]["plugin_id"]
        router = await self.router_of(plugin_id)
        if router is None:
            raise HTTPException(
                404,
                detail={
                    "error": "NoPluginRoute",
                    "message": f"no route: plugin {plugin_id!r} is not enabled here or has "
                    "no router",
                    "problems": [f"plugin {plugin_id!r} serves no routes"],
                    "fix": f"enable it (POST {PREFIX}/{plugin_id}/enable); a plugin serves "
                    "routes with an APIRouter named 'router'",
                    "plugin_id": plugin_id,
                },
            )
        await router(_child_scope(scope), receive, send)

    def cached_router(self, plugin_id: str) -> tuple[bool, APIRouter | None]:
        """``(known, router)`` from what was found for the running entry object."""
        try:
            target = self.manager.get(plugin_id)
        except PluginError:
            with self._lock:
                self._found.pop(plugin_id, None)  # let the old version's modules go
            return True, None
        found = self._found.get(plugin_id)
        if found is not None and found[0] is target:
            return True, found[1]
        return False, None

    async def router_of(self, plugin_id: str) -> APIRouter | None:
        known, router = self.cached_router(plugin_id)
        if known:
            return router
        return await run_in_threadpool(self.find, plugin_id)

    def find(self, plugin_id: str) -> APIRouter | None:
        """The router of the plugin as it runs now (``None``: not enabled, or none)."""
        try:
            target = self.manager.get(plugin_id)
            manifest = self.manager.info(plugin_id).manifest
        except PluginError:
            return None
        places = [
            target,
            sys.modules.get(manifest.package) if manifest.package else None,
            sys.modules.get(manifest.entry_module),
        ]
        router = None
        for place in places:
            candidate = getattr(place, "router", None) if place is not None else None
            if isinstance(candidate, ModuleType):  # a submodule named router
                candidate = getattr(candidate, "router", None)
            if isinstance(candidate, APIRouter):
                router = candidate
                break
            if candidate is not None:
                logger.warning(
                    "plugin %s: its 'router' is a %s, not a fastapi.APIRouter: not served",
                    plugin_id,
                    type(candidate).__name__,
                )
        with self._lock:
            self._found[plugin_id] = (target, router)
        return router

    def prefix(self, plugin_id: str) -> str:
        return f"{self.api_prefix}{PREFIX}/{plugin_id}"


def _child_scope(scope: Scope) -> Scope:
    """The scope the plugin's router sees: its prefix moved into ``root_path``, as a
    Starlette ``Mount`` does, so its routes match ``/hello`` and build URLs right."""
    root_path = scope.get("root_path", "")
    path = scope["path"]
    route_path = path[len(root_path) :] if root_path and path.startswith(root_path) else path
    rest = "/" + scope["path_params"]["path"]
    matched = route_path[: len(route_path) - len(rest)]
    return {**scope, "root_path": root_path + matched, "path_params": {}}


def mount(api: APIRouter, routers: PluginRouters) -> None:
    """Add the catch-all routes (HTTP and WebSocket) last, after the API's own routes."""
    api.routes.append(Route(ROUTE, routers, include_in_schema=False))
    api.routes.append(WebSocketRoute(ROUTE, routers))


def plugin_routes(routers: PluginRouters) -> list[BaseRoute]:
    """The routes of the plugins running now, prefixed (for the OpenAPI document)."""
    routes: list[BaseRoute] = []
    for info in routers.manager.list():
        known, router = routers.cached_router(info.id)
        if not known:
            router = routers.find(info.id)
        if router is not None:
            prefixed = APIRouter()
            prefixed.include_router(router, prefix=routers.prefix(info.id))
            routes.extend(prefixed.routes)
    return routes
