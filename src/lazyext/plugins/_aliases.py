"""The seed design's names, as thin methods of :class:`PluginManager`.

The seed split plugins across ``PluginManager``, ``PluginLoader`` and
``PluginReloader``; lazyext has one manager. These keep their vocabulary for code
written against it: ``list_plugins`` and ``get_plugin`` read the state, ``load`` is
:meth:`~PluginManager.enable` returning the plugin's package, ``unload`` is
:meth:`~PluginManager.disable`, ``purge_cache`` drops the plugin's bytecode and the
import system's caches of its folder.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from lazyext.plugins import _loader
from lazyext.plugins._store import PluginInfo, Store


class SeedNames:
    """Mixed into :class:`PluginManager`."""

    store: Store

    def list_plugins(self) -> list[PluginInfo]:
        """Every installed plugin (the seed's name for :meth:`PluginManager.list`)."""
        return self.store.all()

    def get_plugin(self, plugin_id: str) -> PluginInfo | None:
        """A plugin's recorded state, or ``None`` if it is not installed (the seed's
        ``get_plugin``; :meth:`PluginManager.info` raises instead, and
        :meth:`PluginManager.get` returns the live entry object)."""
        return self.store.get(plugin_id)

    def enable(self, plugin_id: str) -> PluginInfo:
        raise NotImplementedError  # provided by PluginManager

    def disable(self, plugin_id: str) -> PluginInfo:
        raise NotImplementedError  # provided by PluginManager

    def load(self, plugin_id: str) -> ModuleType:
        """Enable the plugin (if it is not running here) and return its package."""
        info = self.enable(plugin_id)
        return importlib.import_module(info.manifest.package)

    def unload(self, plugin_id: str) -> PluginInfo:
        """Disable the plugin: ``on_disable``, then its modules leave ``sys.modules``."""
        return self.disable(plugin_id)

    def purge_cache(self, plugin_id: str) -> None:
        """Forget compiled and cached lookups of the plugin's files, so the next import
        reads its sources again. A running plugin keeps running (use :meth:`reload`)."""
        info = self.store.require(plugin_id)
        _loader.purge_bytecode(info.path)
        importlib.invalidate_caches()
