"""``PluginManager``: enable, disable, reload and follow plugins in this process.

Installing, snapshots and restoring live in :mod:`lazyext.plugins._install`; this
module keeps the in-process side: which plugins are loaded, their entry objects, and
the all-or-nothing transitions between versions. Two locks order every change: the
manager's own (threads of this process, including the hot-reload thread), then the
plugin's file lock (other processes), never the other way round.
"""

from __future__ import annotations

import builtins
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lazyext._config import Config, default_data_root
from lazyext.plugins import _files, _loader
from lazyext.plugins._aliases import SeedNames
from lazyext.plugins._errors import (
    PluginEnableError,
    PluginError,
    PluginNotFound,
    RestartRequired,
)
from lazyext.plugins._reload import Signature
from lazyext.plugins._running import Running
from lazyext.plugins._settings import PluginSettings, plugin_settings
from lazyext.plugins._store import DISABLED, ENABLED, FAILED, PluginInfo, SnapshotInfo, Store

if TYPE_CHECKING:
    from lazyext.plugins._validate import Validation

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
    """

    def __init__(
        self,
        config: Any = None,
        *,
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
        self.settings: PluginSettings = plugin_settings(self.config, overrides)
        self.root = _files.ensure_root(self.settings.directory)
        self.store = Store(os.fspath(data_dir) if data_dir is not None else default_data_root())
        self._lock = threading.RLock()
        self.running = Running(self.config, self.settings, self.store)
        self._watcher: Any = None
        self._started = False
        self._watch: dict[str, bool] = {}  # per-plugin choice over the hot-reload setting
        self._on_change: dict[str, builtins.list[ChangeCallback]] = {}
        for info in self.store.all():
            self.running.own_disabled(info)
        _loader.install_finder(self.running.finder)

    # -- queries --------------------------------------------------------------

    def list(self) -> list[PluginInfo]:
        """Every installed plugin, by id."""
        return self.store.all()

    def info(self, plugin_id: str) -> PluginInfo:
        """One plugin's recorded state; :class:`PluginNotFound` if not installed."""
        return self.store.require(plugin_id)

    def loaded(self) -> builtins.list[str]:
        """Ids of the plugins enabled in this process."""
        with self._lock:
            return sorted(self.running.loaded)

    def get(self, plugin_id: str) -> object:
        """The live entry object of a plugin enabled in this process."""
        loaded = self.running.loaded.get(plugin_id)
        if loaded is None:
            raise PluginError(
                f"plugin {plugin_id!r} is not enabled in this process", plugin_id=plugin_id
            )
        return loaded.target

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
        from lazyext.plugins import _install

        return _install.install(
            self, source, enable=enable, source_name=source_name, editable=editable
        )

    def validate(self, source: str | os.PathLike[str]) -> Validation:
        """Check a plugin folder or zip as :meth:`install` would, as a dry run: no
        plugin code runs, nothing is written; every problem is reported."""
        from lazyext.plugins._validate import validate

        return validate(self, source)

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
        from lazyext.plugins import _install

        return _install.update(self, plugin_id, enabled=enabled, arguments=arguments)

    def uninstall(self, plugin_id: str) -> PluginInfo:
        """Disable, unload, and remove the plugin's files, state and snapshots."""
        from lazyext.plugins import _install

        return _install.uninstall(self, plugin_id)

    def snapshot(self, plugin_id: str, note: str = "") -> SnapshotInfo:
        """Save the plugin's files, manifest and state."""
        from lazyext.plugins import _install

        with self._lock, self._plugin_lock(plugin_id):
            return _install.snapshot_locked(self, self.store.require(plugin_id), note)

    def snapshots(self, plugin_id: str) -> builtins.list[SnapshotInfo]:
        self.store.require(plugin_id)
        return self.store.snapshots(plugin_id)

    def restore(self, plugin_id: str, snapshot_id: int) -> PluginInfo:
        """Bring back a snapshot's files, manifest and state, atomically."""
        from lazyext.plugins import _install

        return _install.restore(self, plugin_id, int(snapshot_id))

    def enable(self, plugin_id: str) -> PluginInfo:
        """Import the plugin and run ``on_enable``; all or nothing.

        On failure the plugin stays disabled, its modules are unloaded, the error is
        recorded as ``last_error`` and :class:`PluginEnableError` is raised.
        """
        with self._lock, self._plugin_lock(plugin_id):
            info = self.store.require(plugin_id)
            loading = plugin_id not in self.running.loaded
            if loading:
                try:
                    self.running.load(info)
                except PluginEnableError as error:
                    self._record(plugin_id, enabled=False, status=FAILED, last_error=error.error)
                    raise
            # A new revision when this is a new attempt: processes that failed to load it
            # wait for one before they try again (see _follow).
            again = not info.enabled or info.status == FAILED
            row = self._record(plugin_id, bump=again, enabled=True, status=ENABLED, last_error=None)
            if loading:
                self.running.loaded[plugin_id].info = row  # just imported: that revision
            return row

    def disable(self, plugin_id: str) -> PluginInfo:
        """Run ``on_disable`` and unload; an ``on_disable`` that raises is recorded only."""
        with self._lock, self._plugin_lock(plugin_id):
            self.store.require(plugin_id)
            error = self.running.unload(plugin_id)
            return self._record(plugin_id, enabled=False, status=DISABLED, last_error=error)

    def reload(self, plugin_id: str) -> PluginInfo:
        """Re-import an enabled plugin: its new code is imported, then the running
        version's ``on_disable`` and the new one's ``on_enable`` run. If anything fails,
        the previous version keeps running. Other processes following the state
        (hot reload) reload it too. An editable plugin whose manifest changed is
        installed again from its folder (new dependencies, entry, version)."""
        from lazyext.plugins._editable import manifest_changed

        with self._lock:
            info = self.store.require(plugin_id)
            if info.enabled and manifest_changed(self, info):
                return self.install(info.source, editable=True)
        with self._lock, self._plugin_lock(plugin_id):
            info = self.store.require(plugin_id)
            if plugin_id not in self.running.loaded:
                if not info.enabled:
                    raise PluginError(
                        f"plugin {plugin_id!r} is disabled; enable it instead", plugin_id=plugin_id
                    )
                try:
                    self.running.load(info)  # freshly imported: that is the reload here
                except PluginEnableError as error:
                    self._record(plugin_id, enabled=False, status=FAILED, last_error=error.error)
                    raise
            else:
                self._swap_recording(plugin_id, info)
            row = self._record(plugin_id, bump=True, status=ENABLED, last_error=None)
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
        with self._lock:
            if self._watcher is not None:
                return
            from lazyext.plugins._reload import Watcher

            self._watcher = Watcher(
                self, self.settings.reload_interval, self.settings.reload_debounce
            )
            self._watcher.start()

    # -- the seed's reloader: per-plugin watching ---------------------------------

    def watch(self, plugin_id: str) -> None:
        """Hot-reload this plugin when its files change, whatever ``hot-reload`` says.
        The polling thread (which also follows the shared state) runs from :meth:`start`
        on, or from now if the manager was started."""
        self.store.require(plugin_id)
        self._watch[plugin_id] = True
        if self._started:
            self._start_watcher()

    def unwatch(self, plugin_id: str) -> None:
        """Stop hot-reloading this plugin (also when ``hot-reload = true``)."""
        self._watch[plugin_id] = False

    def watching(self, plugin_id: str) -> bool:
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
        errors: dict[str, PluginError] = {}
        with self._lock:
            rows = {info.id: info for info in self.store.all()}
            for plugin_id in [
                i for i in self.running.loaded if i not in rows or not rows[i].enabled
            ]:
                self.running.unload(plugin_id)
                if plugin_id not in rows:
                    self.running.finder.disown(plugin_id)
            for info in rows.values():
                try:
                    self._follow(info, load)
                except PluginError as error:
                    errors[info.id] = error
        return errors

    def _follow(self, info: PluginInfo, load: bool) -> None:
        loaded = self.running.loaded.get(info.id)
        if self.running.failed.get(info.id) == info.revision:
            return  # failed here at this revision: wait for the next change
        if loaded is not None:
            if loaded.info.revision == info.revision and loaded.info.path == info.path:
                return
            try:
                with self._plugin_lock(info.id):
                    self._swap_recording(info.id, self.store.require(info.id))
            except PluginError:
                self.running.failed[info.id] = info.revision
                raise
            return
        if not (load and info.enabled):
            self.running.own_disabled(info)
            return
        try:
            with self._plugin_lock(info.id):
                self.running.load(info)
        except PluginEnableError as error:
            self.running.failed[info.id] = info.revision
            self._record(info.id, status=FAILED, last_error=error.error)
            raise

    def hot_reload(self, plugin_id: str) -> None:
        """Reload a plugin whose files changed (called by the hot-reload thread).

        A version that fails to import or enable is recorded as ``last_error`` while
        the previous version keeps running.
        """
        failure: PluginError | None = None
        with self._lock:
            loaded = self.running.loaded.get(plugin_id)
            if loaded is None:
                return
            try:
                with self._plugin_lock(plugin_id):
                    self._swap_recording(plugin_id, loaded.info)
            except RestartRequired as error:
                failure = error
                self._record(plugin_id, last_error=f"hot reload skipped: {error}")
            except PluginNotFound:
                return
            except PluginError as error:
                failure = error
                logger.warning("plugin %s: hot reload failed: %s", plugin_id, error)
            else:
                self._record(plugin_id, status=ENABLED, last_error=None)
                logger.info("plugin %s: reloaded after a change of its files", plugin_id)
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
        with self._lock:
            for plugin_id in list(self.running.loaded):
                self.running.unload(plugin_id)
            _loader.remove_finder(self.running.finder)

    def loaded_roots(self) -> builtins.list[tuple[str, str, Signature]]:
        """``(id, directory, files when loaded)`` of the plugins running here."""
        with self._lock:
            return [(i, x.info.path, x.files) for i, x in self.running.loaded.items()]

    def __enter__(self) -> PluginManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<lazyext.PluginManager {self.root!r}, {len(self.running.loaded)} loaded>"

    # -- internals shared with _install and _reload --------------------------------

    def _plugin_lock(self, plugin_id: str) -> Any:
        return _files.plugin_lock(self.root, plugin_id, self.config.settings.lock_timeout)

    def _record(self, plugin_id: str, *, bump: bool = False, **changes: Any) -> PluginInfo:
        # The loaded version's info is left alone: it says which revision runs here.
        return self.store.update(plugin_id, bump=bump, **changes)

    def _swap_recording(self, plugin_id: str, new: PluginInfo) -> None:
        try:
            self.running.swap(plugin_id, new)
        except PluginEnableError as error:
            if error.previous_kept:
                self._record(plugin_id, last_error=error.error)
            else:
                self._record(plugin_id, enabled=False, status=FAILED, last_error=error.error)
            raise


def _config(
    config: Any,
    cache_dir: str | os.PathLike[str] | None,
    offline: bool | None,
    index_url: str | None,
    find_links: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
    no_index: bool | None,
) -> Config:
    from lazyext._api import _overrides, active_config
    from lazyext._load import load

    options = _overrides(cache_dir, offline, index_url, find_links, no_index, None)
    if isinstance(config, Config):
        if any(value is not None for value in options.values()):
            raise TypeError("pass install options either in the Config or as keywords, not both")
        return config
    if config is None and all(value is None for value in options.values()):
        active = active_config()
        if active is not None:
            return active
    return load(config, options)
