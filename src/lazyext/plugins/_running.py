"""The plugins running in this process: their finder, entry objects and transitions.

Every transition is all or nothing. :meth:`Running.load` imports a plugin and runs
``on_enable``, or unloads whatever it imported and raises. :meth:`Running.swap`
replaces a running version (a reload, an upgrade, a restore): the new code is
imported first, with the old modules set aside; only when that worked does the old
version's ``on_disable`` run and the new one's ``on_enable``; if either step fails the
old modules are put back (and the old ``on_enable`` runs again), so the previous
version keeps running. A plugin is not a security boundary: it runs with the rights of
this process, and these transitions are about clean reloads, not isolation.

Each transition also keeps the hook registry (:mod:`._hooks`) in step: a version is
registered before its ``on_enable`` runs and becomes the one hook calls see once it
succeeded; a failure unregisters it. Each queues its lifecycle event, which the manager
calls once its locks are released.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lazyext._errors import LazyextError
from lazyext._settings.config import Config
from lazyext.plugins import _files, _loader
from lazyext.plugins._dependencies import provision_dependencies
from lazyext.plugins._editable import check_folder, is_editable
from lazyext.plugins._errors import ManifestError, PluginEnableError, PluginError, RestartRequired
from lazyext.plugins._hooks import Events, Registry
from lazyext.plugins._manifest import Manifest
from lazyext.plugins._reload import Signature, signature
from lazyext.plugins._settings import PluginSettings
from lazyext.plugins._store import PluginInfo, Store

logger = logging.getLogger("lazyext.plugins")


@dataclass(slots=True)
class Loaded:
    info: PluginInfo  # the version running here (its revision says which one)
    target: object  # the entry object
    files: Signature  # its files as they were just before the import (for hot reload)


class Running:
    def __init__(
        self, config: Config, settings: PluginSettings, store: Store, registry: Registry
    ) -> None:
        self.config = config
        self.settings = settings
        self.store = store
        self.registry = registry
        self.events = Events(registry)
        self.finder = _loader.PluginFinder()
        self.loaded: dict[str, Loaded] = {}
        self.failed: dict[str, int] = {}  # id -> revision that failed to load here

    def arguments_for(self, plugin_id: str) -> Mapping[str, Any]:
        """The config's arguments, then the record's (``PATCH /plugins/{id}``), key by key."""
        configured: Mapping[str, Any] = self.settings.arguments.get(plugin_id, {})
        return {**configured, **self.store.arguments(plugin_id)}

    def own_disabled(self, info: PluginInfo) -> None:
        """Own a not-loaded plugin's names, so importing them says it is disabled."""
        others = _loader.other_finders(self.finder)
        if any(f.owner_of(name) for f in others for name in info.manifest.modules):
            return
        if info.id not in self.loaded:
            self.finder.own(info.manifest, info.path, loadable=False)

    def check_names(self, manifest: Manifest, *roots: str) -> None:
        """The plugin's import names must be its own in this process and in the state."""
        problems = []
        for name in manifest.modules:
            mine = self.finder.owner_of(name)
            if mine not in (None, manifest.id):
                problems.append(f"the import name {name!r} belongs to plugin {mine!r}")
            for other in _loader.other_finders(self.finder):
                if other.owner_of(name) is not None:
                    problems.append(
                        f"the import name {name!r} is served by another PluginManager of this "
                        f"process (plugin {other.owner_of(name)!r})"
                    )
        for info in self.store.all():
            clash = set(info.manifest.modules) & set(manifest.modules)
            if info.id != manifest.id and clash:
                problems.append(f"plugin {info.id!r} already ships {', '.join(sorted(clash))}")
        problems += [
            f"{name} is already imported in this process"
            for name in _loader.foreign_modules(manifest, roots)
        ]
        if problems:
            raise ManifestError(
                f"plugin {manifest.id!r}: " + "; ".join(dict.fromkeys(problems)),
                plugin_id=manifest.id,
                problems=tuple(problems),
            )

    def prepare(self, info: PluginInfo) -> None:
        """Dependencies through the cache, then (optionally) a trial import in a child.

        The folder the state row names is checked again first: an editable plugin's
        is not lazyext's; any other must be a folder of the plugins directory."""
        if is_editable(self.settings.directory, info.path):
            try:
                check_folder(info.path)
            except ManifestError as error:
                raise PluginEnableError(
                    str(error), plugin_id=info.id, error=str(error).splitlines()[0]
                ) from error
        else:
            _files.check_folder(self.settings.directory, info.path, plugin_id=info.id)
        try:
            paths = provision_dependencies(info.manifest.dependencies, self.config)
        except LazyextError as error:
            raise PluginEnableError(
                f"plugin {info.id!r} was not enabled: a dependency failed: {error}",
                plugin_id=info.id,
                error=f"dependency failed: {str(error).splitlines()[0]}",
            ) from error
        if self.settings.validate_in_subprocess:
            _loader.validate_in_child(
                info.manifest, info.path, paths, self.settings.validate_timeout
            )

    def load(self, info: PluginInfo) -> None:
        """Import and enable in this process, or leave no trace and raise."""
        try:
            self._load(info)
        except PluginError as error:
            self._failed(info.id, error)
            raise

    def _load(self, info: PluginInfo) -> None:
        try:
            self.check_names(info.manifest, info.path)
        except ManifestError as error:
            raise PluginEnableError(str(error), plugin_id=info.id) from error
        self.prepare(info)
        _loader.install_finder(self.finder)
        _loader.purge_bytecode(info.path)  # as swap does: files may have changed since
        self.finder.own(info.manifest, info.path, loadable=True)
        files = signature(info.path)
        version = None
        try:
            target = _loader.instantiate(info.manifest, self.arguments_for(info.id))
            version = self.registry.add(info.id, target, _modules(info.manifest))
            _loader.call_hook(target, "on_enable")
        except BaseException as error:
            if version is not None:
                self.registry.discard(version)
            _loader.take_modules(info.path, info.manifest.modules)
            self.finder.own(info.manifest, info.path, loadable=False)
            if not isinstance(error, (Exception, SystemExit)):
                raise
            raise _failure(info, "was not enabled", error) from error
        self.registry.promote(info.id, version)
        self.loaded[info.id] = Loaded(info, target, files)
        self.failed.pop(info.id, None)
        self.events.queue(
            "lazyext_plugin_enabled", plugin_id=info.id, plugin=target, manifest=info.manifest
        )

    def unload(self, plugin_id: str) -> str | None:
        """``on_disable`` (its error is returned, not raised), then unload the modules."""
        loaded = self.loaded.pop(plugin_id, None)
        if loaded is None:
            return None
        error = None
        try:
            _loader.call_hook(loaded.target, "on_disable")
        except Exception as exc:
            error = f"on_disable raised {_loader.describe(exc)}"
            logger.warning("plugin %s: %s", plugin_id, error)
        self.registry.remove(plugin_id)
        _loader.take_modules(loaded.info.path, loaded.info.manifest.modules)
        self.finder.own(loaded.info.manifest, loaded.info.path, loadable=False)
        self.events.queue(
            "lazyext_plugin_disabled",
            plugin_id=plugin_id,
            plugin=loaded.target,
            manifest=loaded.info.manifest,
        )
        return error

    def refuse_if_extension(self, plugin_id: str) -> None:
        loaded = self.loaded.get(plugin_id)
        if loaded is None:
            return
        modules = _loader.plugin_modules(loaded.info.path, loaded.info.manifest.modules)
        extensions = _loader.loaded_extensions(modules)
        if extensions:
            raise RestartRequired(
                f"plugin {plugin_id!r} has loaded the C extension(s) {', '.join(extensions)}, "
                "which cannot be unloaded from a running process: restart required",
                plugin_id=plugin_id,
            )

    def swap(self, plugin_id: str, new: PluginInfo) -> None:
        """Replace the loaded version by ``new``; on any failure the old one keeps (or
        is brought back to) running and :class:`PluginEnableError` is raised."""
        try:
            self._swap(plugin_id, new)
        except PluginError as error:
            self._failed(plugin_id, error)
            raise

    def _failed(self, plugin_id: str, error: PluginError) -> None:
        self.events.queue("lazyext_plugin_failed", plugin_id=plugin_id, error=error)

    def _swap(self, plugin_id: str, new: PluginInfo) -> None:
        old = self.loaded[plugin_id]
        self.refuse_if_extension(plugin_id)
        try:
            self.check_names(new.manifest, new.path, old.info.path)
        except ManifestError as error:
            raise PluginEnableError(str(error), plugin_id=plugin_id, previous_kept=True) from error
        try:
            self.prepare(new)
        except PluginEnableError as error:
            error.previous_kept = True
            raise
        saved = _loader.take_modules(old.info.path, old.info.manifest.modules)
        _loader.purge_bytecode(new.path)
        self.finder.own(new.manifest, new.path, loadable=True)
        files = signature(new.path)
        try:
            target = _loader.instantiate(new.manifest, self.arguments_for(plugin_id))
            version = self.registry.add(plugin_id, target, _modules(new.manifest))
        except BaseException as error:
            self._back(old, saved, new)
            if not isinstance(error, (Exception, SystemExit)):
                raise
            raise _failure(
                new, "was not reloaded (the previous version keeps running)", error, kept=True
            ) from error
        try:
            _loader.call_hook(old.target, "on_disable")
        except Exception as error:
            logger.warning("plugin %s: on_disable raised %s", plugin_id, _loader.describe(error))
        try:
            _loader.call_hook(target, "on_enable")
        except BaseException as error:
            self.registry.discard(version)
            self._back(old, saved, new)
            if not isinstance(error, (Exception, SystemExit)):
                raise
            self._reenable(old, new, error)
            raise _failure(
                new, "was not reloaded (the previous version was re-enabled)", error, kept=True
            ) from error
        self.registry.promote(plugin_id, version)
        self.loaded[plugin_id] = Loaded(new, target, files)
        self.events.queue(
            "lazyext_plugin_reloaded",
            plugin_id=plugin_id,
            plugin=target,
            manifest=new.manifest,
            previous=old.target,
        )

    def _back(self, old: Loaded, saved: dict[str, Any], new: PluginInfo) -> None:
        _loader.take_modules(new.path, new.manifest.modules)
        _loader.put_back(saved)
        self.finder.own(old.info.manifest, old.info.path, loadable=True)

    def _reenable(self, old: Loaded, new: PluginInfo, cause: BaseException) -> None:
        try:
            _loader.call_hook(old.target, "on_enable")
        except Exception as error:
            self.loaded.pop(old.info.id, None)
            self.registry.remove(old.info.id)
            _loader.take_modules(old.info.path, old.info.manifest.modules)
            self.finder.own(old.info.manifest, old.info.path, loadable=False)
            self.events.queue(
                "lazyext_plugin_disabled",
                plugin_id=old.info.id,
                plugin=old.target,
                manifest=old.info.manifest,
            )
            raise _failure(
                new,
                f"was not reloaded ({_loader.describe(cause)}), and re-enabling the "
                "previous version also failed",
                error,
            ) from error


def _modules(manifest: Manifest) -> list[object]:
    """The plugin's package and entry modules (registered when they implement hooks)."""
    names = dict.fromkeys([manifest.package, manifest.entry_module])
    return [sys.modules[name] for name in names if name and name in sys.modules]


def _failure(
    info: PluginInfo, what: str, error: BaseException, *, kept: bool = False
) -> PluginEnableError:
    text = _loader.describe(error)
    return PluginEnableError(
        f"plugin {info.id!r} {info.version} {what}: {text}",
        plugin_id=info.id,
        error=text,
        previous_kept=kept,
    )
