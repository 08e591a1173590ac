"""What one API serves: the config, the managers behind it, its settings and guard.

A :class:`Service` holds the config, a :class:`~lazyext.PluginManager`, a
:class:`~lazyext.TaskManager` and the access guard. Managers it creates are its own:
the application's lifespan starts them (plugins recorded as enabled are enabled, hot
reload and the scheduler start) and stops them. Managers handed in are left to their
owner.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from starlette.concurrency import run_in_threadpool

from lazyext._settings.config import Config
from lazyext._settings.load import load
from lazyext.plugins import PluginManager
from lazyext.tasks import TaskManager
from lazyext.web._mount import PluginRouters
from lazyext.web._security import Guard
from lazyext.web._settings import WebSettings, web_settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lazyext._settings.load import ConfigSource  # a type alias only

logger = logging.getLogger("lazyext.web")


class Options(TypedDict, total=False):
    """The keyword arguments of :func:`~lazyext.web.create_app` and
    :func:`~lazyext.web.router` after ``config``."""

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
