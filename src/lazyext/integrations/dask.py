"""Dask: :class:`LazyextPlugin`, a ``distributed`` worker plugin.

::

    from lazyext.integrations.dask import LazyextPlugin
    client.register_plugin(LazyextPlugin({"yaml": "PyYAML>=6"}))

Every worker process, including those that join later, activates the same
environment; each host installs (or unpacks) each extension once, since the per-key
cache lock serializes the workers of a host. A worker that cannot prepare raises
:class:`~lazyext.integrations._prepare.FleetError`, which ``register_plugin`` re-raises
on the client; :func:`report` gives every worker's outcome.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from distributed import WorkerPlugin

from lazyext.integrations._prepare import FleetError, prepare, raise_for

__all__ = ["FleetError", "LazyextPlugin", "report"]


class LazyextPlugin(WorkerPlugin):
    """Activate lazyext in every worker process.

    ``config`` is what :func:`lazyext.activate` takes (a path must exist on the
    workers; a mapping or a list of ``Extension`` travels with the plugin). ``lock``
    pins versions (a ``pylock.toml`` path on the workers). ``pack`` is an archive from
    ``lazyext pack``: a path on the workers, or its bytes (shipped with the plugin).
    ``warm=True`` installs every enabled extension at registration, so failures show
    there; ``warm=False`` installs on first import. Other keyword arguments go to
    ``activate`` (``cache_dir=``, ``find_links=``, ``offline=`` ...).
    """

    name = "lazyext"
    idempotent = False

    def __init__(
        self,
        config: Any = None,
        *,
        lock: str | None = None,
        pack: str | bytes | None = None,
        warm: bool = True,
        **options: Any,
    ) -> None:
        self.config = config
        self.lock = lock
        self.pack = pack
        self.warm = warm
        self.options = options
        self.report: dict[str, Any] = {}

    async def setup(self, worker: Any) -> None:
        # Installs run in a thread: the worker's event loop keeps its heartbeats.
        work = functools.partial(
            prepare, self.config, self.options, lock=self.lock, pack=self.pack, warm=self.warm
        )
        self.report = await asyncio.get_running_loop().run_in_executor(None, work)
        self.report["worker"] = worker.address
        raise_for(self.report, worker.address)

    def teardown(self, worker: Any) -> None:
        from lazyext._api import deactivate

        deactivate()


def _worker_report(dask_worker: Any) -> dict[str, Any]:
    plugin = dask_worker.plugins.get(LazyextPlugin.name)
    report: dict[str, Any] = getattr(plugin, "report", None) or {"failed": {"": "not registered"}}
    return report


def report(client: Any) -> dict[str, dict[str, Any]]:
    """``{worker address: {"host", "pid", "ready", "unpacked", "failed"}}`` of every worker."""
    result: dict[str, dict[str, Any]] = client.run(_worker_report)
    return result
