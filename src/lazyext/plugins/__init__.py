"""Plugins: install, enable, disable, uninstall, reload, hot reload, snapshots.

Also ``validate`` (a dry run of install's checks), editable installs that run from the
author's folder, per-plugin ``watch``/``unwatch``/``on_change``, :class:`Plugin`, an
optional base class of a plugin's entry object, and hooks on pluggy: ``hookspec`` and
``hookimpl`` (the markers of the project ``"lazyext"``) and :class:`LifecycleSpec`,
lazyext's own events.

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
from lazyext.plugins._hookspecs import LifecycleSpec, hookimpl, hookspec
from lazyext.plugins._manager import PluginManager
from lazyext.plugins._manifest import Manifest
from lazyext.plugins._store import PluginInfo, SnapshotInfo
from lazyext.plugins._validate import Validation

__all__ = [
    "LifecycleSpec",
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
    "Validation",
    "hookimpl",
    "hookspec",
]
