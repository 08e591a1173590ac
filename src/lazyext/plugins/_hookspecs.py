"""lazyext's own events, as pluggy hook specifications an application can implement.

Mark implementations with :data:`hookimpl` (pluggy's marker for the project
``"lazyext"``) and register them with :meth:`PluginManager.register`; a plugin's
entry object or module may implement them too. Every hook receives keyword
arguments, and an implementation takes only the ones it names::

    from lazyext.plugins import hookimpl

    class Audit:
        @hookimpl
        def lazyext_plugin_failed(self, plugin_id, error):
            print(plugin_id, "failed:", error)

The plugin events describe this process: ``enabled`` when a plugin starts running
here (enabled, or followed from another process), ``reloaded`` when a new version
replaced the running one, ``disabled`` when it stopped running here (disabled,
uninstalled, :meth:`PluginManager.close`), ``failed`` when enabling or reloading it
failed. They are called once the change is complete and the manager's locks are
released, in the thread that made the change; an exception an implementation raises
is logged (logger ``lazyext.plugins``), never raised into the change.
``lazyext_extension_installed`` is called in the thread that installed, right after
the install was published.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import pluggy

from lazyext.plugins._errors import PluginError
from lazyext.plugins._manifest import Manifest
from lazyext.plugins._store import PluginInfo

PROJECT: Final = "lazyext"

#: Marks a function or method as a hook specification of the project ``"lazyext"``.
hookspec: Final = pluggy.HookspecMarker(PROJECT)
#: Marks a function or method as an implementation of a ``"lazyext"`` hook.
hookimpl: Final = pluggy.HookimplMarker(PROJECT)


class LifecycleSpec:
    """The hooks lazyext calls; every :class:`PluginManager` has them."""

    @hookspec
    def lazyext_plugin_installed(self, plugin_id: str, info: PluginInfo) -> None:
        """A plugin was installed or upgraded by this process (``info``: its record)."""

    @hookspec
    def lazyext_plugin_uninstalled(self, plugin_id: str, info: PluginInfo) -> None:
        """A plugin was uninstalled by this process (``info``: its last record)."""

    @hookspec
    def lazyext_plugin_enabled(self, plugin_id: str, plugin: object, manifest: Manifest) -> None:
        """A plugin runs in this process now: ``plugin`` is its entry object, registered
        with the hooks it implements."""

    @hookspec
    def lazyext_plugin_reloaded(
        self, plugin_id: str, plugin: object, manifest: Manifest, previous: object
    ) -> None:
        """A new version (or the same code read again) replaced the running one:
        ``plugin`` is the new entry object, ``previous`` the one it replaced."""

    @hookspec
    def lazyext_plugin_disabled(self, plugin_id: str, plugin: object, manifest: Manifest) -> None:
        """A plugin stopped running in this process; its hooks are unregistered."""

    @hookspec
    def lazyext_plugin_failed(self, plugin_id: str, error: PluginError) -> None:
        """Enabling or reloading a plugin failed: ``error`` is a
        :class:`PluginEnableError` (its ``previous_kept`` tells whether the version that
        ran before keeps running) or :class:`RestartRequired`."""

    @hookspec
    def lazyext_extension_installed(
        self, name: str, requirement: str, paths: Sequence[str], module: str | None
    ) -> None:
        """An extension (or a plugin's dependency) was installed into the cache by this
        process: ``paths`` are the new install directories, ``module`` the import that
        asked for it (``None`` for ``ensure``, ``warm`` and plugin dependencies)."""
