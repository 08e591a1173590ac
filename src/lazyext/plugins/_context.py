"""What the operations of one :class:`PluginManager` share, and the order of its locks.

The config and ``[plugins]`` settings, the plugins directory, the state database, the
plugins running in this process and the hook registry. Two locks order every change:
the manager's own (threads of this process, including the hot-reload thread), then
the plugin's file lock (other processes), never the other way round. The lifecycle
hook calls a change queued are made once the outermost change has released the
manager's lock, so an implementation may call the manager again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from lazyext._settings.config import Config
from lazyext.plugins import _files
from lazyext.plugins._errors import PluginEnableError
from lazyext.plugins._hooks import Registry
from lazyext.plugins._running import Running
from lazyext.plugins._settings import PluginSettings
from lazyext.plugins._store import FAILED, PluginInfo, Store


class Context:
    def __init__(
        self, config: Config, settings: PluginSettings, store: Store, registry: Registry
    ) -> None:
        self.config = config
        self.settings = settings
        self.root = _files.ensure_root(settings.directory)
        self.store = store
        self.registry = registry
        self.running = Running(config, settings, store, registry)
        self.lock = threading.RLock()
        self._depth = 0  # changes in progress in the thread holding ``lock``

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the manager's lock; after the outermost change, call the queued hooks."""
        outermost = False
        try:
            with self.lock:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                    outermost = self._depth == 0
        finally:
            if outermost:
                self.running.events.flush()

    def plugin_lock(self, plugin_id: str) -> AbstractContextManager[None]:
        return _files.plugin_lock(self.root, plugin_id, self.config.settings.lock_timeout)

    def record(self, plugin_id: str, *, bump: bool = False, **changes: Any) -> PluginInfo:
        # The loaded version's info is left alone: it says which revision runs here.
        return self.store.update(plugin_id, bump=bump, **changes)

    def load_recording(self, info: PluginInfo) -> None:
        """:meth:`Running.load`, recording a failure: the plugin disabled, as failed."""
        try:
            self.running.load(info)
        except PluginEnableError as error:
            self.record(info.id, enabled=False, status=FAILED, last_error=error.error)
            raise

    def swap_recording(self, plugin_id: str, new: PluginInfo) -> None:
        """:meth:`Running.swap`, recording a failure: the previous version's
        ``last_error``, or (nothing runs any more) the plugin as failed."""
        try:
            self.running.swap(plugin_id, new)
        except PluginEnableError as error:
            if error.previous_kept:
                self.record(plugin_id, last_error=error.error)
            else:
                self.record(plugin_id, enabled=False, status=FAILED, last_error=error.error)
            raise
