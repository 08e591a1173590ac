"""Plugins: install, enable, disable, uninstall, reload, hot reload, snapshots.

``lazyext.PluginManager`` is served from here lazily, so ``import lazyext`` stays
light. See :class:`PluginManager` and the README's "Plugins" section.
"""

from __future__ import annotations

from lazyext.plugins._base import Plugin
from lazyext.plugins._errors import (
    ManifestError,
    PluginEnableError,
    PluginError,
    PluginNotFound,
    RestartRequired,
    UnsafeArchiveError,
)
from lazyext.plugins._manager import PluginManager
from lazyext.plugins._manifest import Manifest
from lazyext.plugins._store import PluginInfo, SnapshotInfo

__all__ = [
    "Manifest",
    "ManifestError",
    "Plugin",
    "PluginEnableError",
    "PluginError",
    "PluginInfo",
    "PluginManager",
    "PluginNotFound",
    "RestartRequired",
    "SnapshotInfo",
    "UnsafeArchiveError",
]
