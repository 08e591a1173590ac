"""``PluginManager``: the one object an application holds for its plugins.

It ties the parts together: installing, snapshots and restoring
(:mod:`._install`), the dry run (:mod:`._validate`), the plugins running in this
process and their transitions (:mod:`._running`), following the shared state and hot
reload (:mod:`._following`, :mod:`._reload`), and the hook registry (:mod:`._hooks`).
The locks every change takes, and in which order, are :mod:`._context`'s.

(Past 400 lines: the public API of one class, each method a few lines that delegate;
``get``'s typed overloads.)
"""

from __future__ import annotations

import builtins
import logging
import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

import pluggy

from lazyext import _events
from lazyext._api import active_config, overrides
from lazyext._settings.config import Config, default_data_root
from lazyext._settings.load import load
from lazyext.plugins import _files, _following, _install, _loader
from lazyext.plugins._aliases import SeedNames
from lazyext.plugins._context import Context
from lazyext.plugins._editable import manifest_changed
from lazyext.plugins._errors import PluginError
from lazyext.plugins._hooks import Hookspecs, Namespace, Registry, call
from lazyext.plugins._hookspecs import PROJECT
from lazyext.plugins._reload import Signature, Watcher
from lazyext.plugins._settings import plugin_settings
from lazyext.plugins._store import DISABLED, ENABLED, FAILED, PluginInfo, SnapshotInfo, Store
from lazyext.plugins._validate import Validation, validate

_T = TypeVar("_T")

logger = logging.getLogger("lazyext.plugins")

#: ``callback(plugin_id, error)`` after a hot reload; ``error`` is None on success.
ChangeCallback = Callable[[str, "PluginError | None"], None]


class PluginManager(SeedNames):
    """Install, enable, disable, reload, snapshot and restore plugins.

    ``config`` is what :func:`lazyext.activate` takes (or a loaded config); its
    ``[plugins]`` table and install settings apply, keyword arguments win. Creating a
    manager runs no plugin code: call :meth:`start` to enable the plugins recorded as
    enabled (``auto-enable``) and to start hot reload, and :meth:`close` (or use
    ``with``) to disable them in this process again. Plugins run in this process with
    its rights: a plugin is not a security boundary.

    Hooks are pluggy's: ``hookspecs`` (a class or module of specifications, or a list
    of them) are added to the registry of the pluggy ``project``; a plugin that runs
    here is registered with its entry object (and its modules that implement hooks),
    :attr:`hook` calls them, and lazyext's own events (:class:`LifecycleSpec`) are
    hooks too.
    """

    def __init__(
        self,
        config: Any = None,
        *,
        hookspecs: Hookspecs | None = None,
        project: str = PROJECT,
        directory: str | os.PathLike[str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        auto_enable: bool | None = None,
        hot_reload: bool | None = None,
        validate_in_subprocess: bool | None = None,
        arguments: Mapping[str, Mapping[str, Any]] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        offline: bool | None = None,
        index_url: str | None = None,
        find_links: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        no_index: bool | None = None,
    ) -> None:
        self.config = _config(config, cache_dir, offline, index_url, find_links, no_index)
        overrides = {
            "directory": os.fspath(directory) if directory is not None else None,
            "auto_enable": auto_enable,
            "hot_reload": hot_reload,
            "validate_in_subprocess": validate_in_subprocess,
            "arguments": arguments,
        }
        registry = Registry(project)
        registry.add_all(hookspecs)
        store = Store(os.fspath(data_dir) if data_dir is not None else default_data_root())
        self._ctx = Context(self.config, plugin_settings(self.config, overrides), store, registry)
        self.settings, self.root, self.store = self._ctx.settings, self._ctx.root, store
        self.running = self._ctx.running
        self._watcher: Watcher | None = None
        self._started = False
        self._watch: dict[str, bool] = {}  # per-plugin choice over the hot-reload setting
        self._on_change: dict[str, builtins.list[ChangeCallback]] = {}
        for info in self.store.all():
            self.running.own_disabled(info)
        _loader.install_finder(self.running.finder)
        # The core's installs, relayed to the hook while this manager exists.
        relay = weakref.WeakMethod(self._extension_installed)
        weakref.finalize(self, _events.subscribe(lambda **event: _relay(relay, event)))

    # -- hooks (pluggy) -----------------------------------------------------------

    @property
    def hook(self) -> pluggy.HookRelay:
        r"""pluggy's hook relay: ``manager.hook.<name>(**kwargs)`` calls every
        implementation registered (the plugins running here, :meth:`register`\ ed
        objects) and returns their results."""
        return self._ctx.registry.hook

    @property
    def pluggy(self) -> Registry:
        """The pluggy ``PluginManager`` behind :attr:`hook` (tracing, blocking, ...)."""
        return self._ctx.registry

    def add_hookspecs(self, module_or_class: Namespace) -> None:
        """Add hook specifications: a class or module of ``@hookspec`` functions."""
        self._ctx.registry.add_hookspecs(module_or_class)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register an object of the application that implements hooks (lazyext's
        lifecycle events, say); returns its name (pluggy's ``register``)."""
        return self._ctx.registry.register(plugin, name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        """Unregister what :meth:`register` registered (pluggy's ``unregister``)."""
        return self._ctx.registry.unregister(plugin, name)

    def _extension_installed(self, event: Mapping[str, Any]) -> None:
        call(self._ctx.registry, "lazyext_extension_installed", event)

    # -- queries --------------------------------------------------------------

    def list(self) -> list[PluginInfo]:
        """Every installed plugin, by id."""
        return self.store.all()

    def info(self, plugin_id: str) -> PluginInfo:
        """One plugin's recorded state; :class:`PluginNotFound` if not installed."""
        return self.store.require(plugin_id)

    def loaded(self) -> builtins.list[str]:
        """Ids of the plugins enabled in this process."""
        with self._ctx.lock:
            return sorted(self.running.loaded)

    @overload
    def get(self, plugin_id: str) -> object: ...
    @overload
    def get(self, plugin_id: str, kind: type[_T]) -> _T: ...

    def get(self, plugin_id: str, kind: type[Any] | None = None) -> object:
        """The live entry object of a plugin enabled in this process.

        ``kind`` (the entry's class, or a base such as :class:`lazyext.plugins.Plugin`)
        types the result for a type checker and is checked: another entry raises
        :class:`PluginError` instead of failing later on a missing attribute."""
        loaded = self.running.loaded.get(plugin_id)
        if loaded is None:
            raise PluginError(
                f"plugin {plugin_id!r} is not enabled in this process", plugin_id=plugin_id
            )
        target = loaded.target
        if kind is not None and not isinstance(target, kind):
            raise PluginError(
                f"the entry object of plugin {plugin_id!r} is a {type(target).__qualname__}, "
                f"not a {kind.__qualname__}",
                plugin_id=plugin_id,
            )
        return target

    def arguments_for(self, plugin_id: str) -> Mapping[str, Any]:
        """The ``arguments`` the plugin's entry class is constructed with: the config's,
        then those set with :meth:`update`, key by key."""
        return self.running.arguments_for(plugin_id)

    # -- lifecycle --------------------------------------------------------------

    def install(
        self,
        source: str | os.PathLike[str],
        *,
        enable: bool = False,
        source_name: str | None = None,
        editable: bool = False,
    ) -> PluginInfo:
        """Install from a folder, a zip/wheel or a requirement (see :mod:`._install`).

        ``source_name``: what to record as the plugin's ``source`` instead of
        ``source`` (for a temporary file, say: the name it was uploaded as).
        ``editable``: run from the folder itself, not a copy, so :meth:`reload` and hot
        reload pick up its edits (see :mod:`._editable`)."""
        return _install.install(
            self._ctx, source, enable=enable, source_name=source_name, editable=editable
        )

    def validate(self, source: str | os.PathLike[str]) -> Validation:
        """Check a plugin folder or zip as :meth:`install` would, as a dry run: no
        plugin code runs, nothing is installed, the dependencies are resolved; every
        problem is reported."""
        return validate(self._ctx, source)

    def update(
        self,
        plugin_id: str,
        *,
        enabled: bool | None = None,
        arguments: Mapping[str, Any] | None = None,
    ) -> PluginInfo:
        """Change the plugin's record (the seed's ``PluginUpdate``): its ``arguments``
        (replacing those set before; a running plugin is reloaded with them) and
        whether it is ``enabled``. ``None`` leaves a field as it is."""
        return _install.update(self, plugin_id, enabled=enabled, arguments=arguments)

    def uninstall(self, plugin_id: str) -> PluginInfo:
        """Disable, unload, and remove the plugin's files, state and snapshots."""
        return _install.uninstall(self._ctx, plugin_id)

    def snapshot(self, plugin_id: str, note: str = "") -> SnapshotInfo:
        """Save the plugin's files, manifest and state."""
        with self._ctx.changing(), self._ctx.plugin_lock(plugin_id):
            return _install.snapshot_locked(self._ctx, self.store.require(plugin_id), note)

    def snapshots(self, plugin_id: str) -> builtins.list[SnapshotInfo]:
        self.store.require(plugin_id)
        return self.store.snapshots(plugin_id)

    def restore(self, plugin_id: str, snapshot_id: int) -> PluginInfo:
        """Bring back a snapshot's files, manifest and state, atomically."""
        return _install.restore(self._ctx, plugin_id, int(snapshot_id))

    def enable(self, plugin_id: str) -> PluginInfo:
        """Import the plugin and run ``on_enable``; all or nothing.

        On failure the plugin stays disabled, its modules are unloaded, the error is
        recorded as ``last_error`` and :class:`PluginEnableError` is raised.
        """
        with self._ctx.changing(), self._ctx.plugin_lock(plugin_id):
            info = self.store.require(plugin_id)
            loading = plugin_id not in self.running.loaded
            if loading:
                self._ctx.load_recording(info)
            # A new revision when this is a new attempt: processes that failed to load it
            # wait for one before they try again (see _following).
            again = not info.enabled or info.status == FAILED
            row = self._ctx.record(
                plugin_id, bump=again, enabled=True, status=ENABLED, last_error=None
            )
            if loading:
                self.running.loaded[plugin_id].info = row  # just imported: that revision
            return row

    def disable(self, plugin_id: str) -> PluginInfo:
        """Run ``on_disable`` and unload; an ``on_disable`` that raises is recorded only."""
        with self._ctx.changing(), self._ctx.plugin_lock(plugin_id):
            self.store.require(plugin_id)
            error = self.running.unload(plugin_id)
            return self._ctx.record(plugin_id, enabled=False, status=DISABLED, last_error=error)

    def reload(self, plugin_id: str) -> PluginInfo:
        """Re-import an enabled plugin: its new code is imported, then the running
        version's ``on_disable`` and the new one's ``on_enable`` run. If anything fails,
        the previous version keeps running. Other processes following the state
        (hot reload) reload it too. An editable plugin whose manifest changed is
        installed again from its folder (new dependencies, entry, version)."""
        with self._ctx.changing():
            info = self.store.require(plugin_id)
            if info.enabled and manifest_changed(self.root, self.config, info):
                return self.install(info.source, editable=True)
        with self._ctx.changing(), self._ctx.plugin_lock(plugin_id):
            info = self.store.require(plugin_id)
            if plugin_id not in self.running.loaded:
                if not info.enabled:
                    raise PluginError(
                        f"plugin {plugin_id!r} is disabled; enable it instead", plugin_id=plugin_id
                    )
                self._ctx.load_recording(info)  # freshly imported: that is the reload here
            else:
                self._ctx.swap_recording(plugin_id, info)
            row = self._ctx.record(plugin_id, bump=True, status=ENABLED, last_error=None)
            self.running.loaded[plugin_id].info = row  # this process already runs that revision
            return row

    def start(self) -> dict[str, PluginError]:
        """Enable the plugins recorded as enabled (``auto-enable``) and start hot reload.

        A plugin that fails is left disabled in this process with its error recorded;
        the others start anyway. Returns the errors by plugin id.
        """
        _files.clean_leftovers(self.root)
        errors = self.sync(load=self.settings.auto_enable)
        self._started = True
        if self.settings.hot_reload or any(self._watch.values()):
            self._start_watcher()
        return errors

    def _start_watcher(self) -> None:
        with self._ctx.lock:
            if self._watcher is None:
                interval, debounce = self.settings.reload_interval, self.settings.reload_debounce
                self._watcher = Watcher(self, interval, debounce)
                self._watcher.start()

    # -- the seed's reloader: per-plugin watching ---------------------------------

    def watch(self, plugin_id: str) -> None:
        """Hot-reload this plugin when its files change, whatever ``hot-reload`` says,
        from now on: the polling thread starts now if it does not run yet (it follows
        the shared state, too, once the manager is started)."""
        self.store.require(plugin_id)
        self._watch[plugin_id] = True
        self._start_watcher()

    def unwatch(self, plugin_id: str) -> None:
        """Stop hot-reloading this plugin (also when ``hot-reload = true``)."""
        self._watch[plugin_id] = False

    def watching(self, plugin_id: str) -> bool:
        """Is the plugin hot-reloaded when its files change? (Never while no polling
        thread runs: before :meth:`start` or :meth:`watch`, after :meth:`close`.)"""
        return self._watcher is not None and self.wants_hot_reload(plugin_id)

    def wants_hot_reload(self, plugin_id: str) -> bool:
        """:meth:`watch`, :meth:`unwatch`, else the ``hot-reload`` setting."""
        return self._watch.get(plugin_id, self.settings.hot_reload)

    def on_change(self, plugin_id: str, callback: ChangeCallback) -> Callable[[], None]:
        """Call ``callback(plugin_id, error)`` after each hot reload of the plugin
        (``error`` is ``None`` when the new version runs). Returns the undo."""
        callbacks = self._on_change.setdefault(plugin_id, [])
        callbacks.append(callback)

        def undo() -> None:
            if callback in callbacks:
                callbacks.remove(callback)

        return undo

    def sync(self, *, load: bool = True) -> dict[str, PluginError]:
        """Follow the shared state: unload what was disabled or uninstalled elsewhere,
        reload what was upgraded, restored or reloaded elsewhere, and (``load``) enable
        what is recorded as enabled. Returns the errors by plugin id."""
        return _following.sync(self._ctx, load=load)

    def follow(self) -> dict[str, PluginError]:
        """One poll's :meth:`sync` (the hot-reload thread's): only once started."""
        return self.sync(load=self.settings.auto_enable) if self._started else {}

    def hot_reload(self, plugin_id: str) -> None:
        """Reload a plugin whose files changed (called by the hot-reload thread).

        A version that fails to import or enable is recorded as ``last_error`` while
        the previous version keeps running; the :meth:`on_change` callbacks run after.
        """
        tried, failure = _following.hot_reload(self._ctx, plugin_id)
        if not tried:
            return
        for callback in list(self._on_change.get(plugin_id, ())):
            try:
                callback(plugin_id, failure)
            except Exception:  # one callback must not stop the others or hot reload
                logger.exception("plugin %s: an on_change callback raised", plugin_id)

    def close(self) -> None:
        """Stop hot reload and disable every plugin in this process (``on_disable``);
        the recorded state is kept, so the next :meth:`start` enables them again."""
        watcher, self._watcher = self._watcher, None
        self._started = False
        if watcher is not None:
            watcher.stop()
        with self._ctx.changing():
            for plugin_id in list(self.running.loaded):
                self.running.unload(plugin_id)
            _loader.remove_finder(self.running.finder)

    def loaded_roots(self) -> builtins.list[tuple[str, str, Signature]]:
        """``(id, directory, files when loaded)`` of the plugins running here."""
        with self._ctx.lock:
            return [(i, x.info.path, x.files) for i, x in self.running.loaded.items()]

    def __enter__(self) -> PluginManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<lazyext.PluginManager {self.root!r}, {len(self.running.loaded)} loaded>"


def _relay(method: weakref.WeakMethod[Any], event: Mapping[str, Any]) -> None:
    bound = method()
    if bound is not None:
        bound(event)


def _config(
    config: Any,
    cache_dir: str | os.PathLike[str] | None,
    offline: bool | None,
    index_url: str | None,
    find_links: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
    no_index: bool | None,
) -> Config:
    options = overrides(cache_dir, offline, index_url, find_links, no_index, None)
    if isinstance(config, Config):
        if any(value is not None for value in options.values()):
            raise TypeError("pass install options either in the Config or as keywords, not both")
        return config
    if config is None and all(value is None for value in options.values()):
        active = active_config()
        if active is not None:
            return active
    return load(config, options)
