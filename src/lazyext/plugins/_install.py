"""Install, upgrade, snapshot, restore, update and uninstall: the changes to files and state.

Each runs under the plugin's cross-process lock and follows one order: check
everything (structure, manifest, dependencies, names), provision dependencies through
the cache, build the new directory in staging and rename it into place, prove the
new version enables (when it is to be enabled), and only then move the state row's
pointer. A failure before the pointer moves leaves the previous version installed
and running, and removes the new directory: that is the automatic rollback of a
failed upgrade (a snapshot of the previous version is taken first all the same).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import replace
from importlib.machinery import PathFinder
from typing import TYPE_CHECKING, Any

from lazyext._errors import ConfigError
from lazyext.plugins import _files, _reader
from lazyext.plugins._archive import DirTree, Limits, Tree
from lazyext.plugins._context import Context
from lazyext.plugins._dependencies import provision_dependencies
from lazyext.plugins._editable import check_folder, is_editable, run_root
from lazyext.plugins._errors import ManifestError, PluginEnableError, PluginError, RestartRequired
from lazyext.plugins._manifest import Manifest
from lazyext.plugins._sources import open_source
from lazyext.plugins._store import DISABLED, ENABLED, FAILED, PluginInfo, SnapshotInfo

if TYPE_CHECKING:
    from lazyext.plugins._manager import PluginManager


def install(
    ctx: Context,
    source: str | os.PathLike[str],
    *,
    enable: bool,
    source_name: str | None = None,
    editable: bool = False,
) -> PluginInfo:
    """Install (or upgrade to) the plugin in ``source``; see the module docstring.

    ``source_name`` is recorded as the plugin's source instead of ``source`` (a
    temporary copy of an upload, say, which is gone once installed). ``editable``:
    record the folder itself instead of a copy (see :mod:`._editable`)."""
    limits = Limits(max_bytes=ctx.settings.max_archive_bytes)
    if editable and not os.path.isdir(os.path.expanduser(os.fspath(source))):
        raise ManifestError(f"{os.fspath(source)}: an editable install needs a folder")
    opened = open_source(source, ctx.config, limits)
    try:
        manifest, copy = _reader.read(
            opened.tree,
            folder_name=opened.folder_name,
            allow_direct_urls=ctx.config.settings.allow_direct_urls,
        )
        check_syntax(opened.tree, copy)
        check_shadowing(manifest, opened.label)
        with ctx.changing(), ctx.plugin_lock(manifest.id):
            existing = ctx.store.get(manifest.id)
            ctx.running.check_names(manifest, *([existing.path] if existing else []))
            ctx.running.refuse_if_extension(manifest.id)
            provision_dependencies(manifest.dependencies, ctx.config)
            if editable:
                check_folder(opened.label, copy)
                path = run_root(os.path.realpath(opened.label), copy, manifest.package)
            else:
                version = manifest.version
                path = _publish(ctx, manifest.id, opened.tree, copy, "versions", version)
            try:
                label = opened.label if source_name is None else source_name
                return _commit(ctx, manifest, path, label, existing, enable)
            except BaseException:
                row = ctx.store.get(manifest.id)
                if not editable and (row is None or row.path != path):  # not a failed plugin
                    _files.remove(ctx.root, path)
                raise
    finally:
        opened.tree.close()


def check_syntax(tree: Tree, copy: dict[str, str]) -> None:
    """Compile (never run) every Python file: a broken plugin is refused up front."""
    problems = []
    for path in sorted(copy):
        if not path.endswith(".py"):
            continue
        try:
            compile(tree.read(path, 16 << 20), path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
            problems.append(f"{path}: {type(error).__name__}: {error}")
    if problems:
        raise ManifestError(
            f"{tree.label}: {len(problems)} file(s) do not compile: " + "; ".join(problems),
            problems=tuple(problems),
            source=tree.label,
        )


def check_shadowing(manifest: Manifest, label: str) -> None:
    """A plugin's top-level names must not hide modules installed in the host."""
    # The working directory and the folder holding the source are not the host's.
    skipped = {os.getcwd(), os.path.dirname(os.path.abspath(label))}
    paths = [p for p in sys.path if p and os.path.abspath(p) not in skipped]
    hidden = []
    for name in manifest.modules:
        spec = PathFinder.find_spec(name, paths)
        if spec is not None:
            hidden.append(f"{name} ({spec.origin or 'namespace package'})")
    if hidden:
        raise ManifestError(
            f"{label}: plugin {manifest.id!r} would hide installed module(s) "
            f"{', '.join(hidden)}; rename the plugin's package",
            plugin_id=manifest.id,
            source=label,
        )


def _publish(
    ctx: Context, plugin_id: str, tree: Tree, copy: dict[str, str], kind: str, label: str
) -> str:
    staging = _files.new_staging(ctx.root, plugin_id)
    try:
        tree.extract(staging, copy)
        return _files.publish(staging, ctx.root, plugin_id, kind, label)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _commit(
    ctx: Context,
    manifest: Manifest,
    path: str,
    source: str,
    existing: PluginInfo | None,
    enable: bool,
) -> PluginInfo:
    wanted = enable or (existing is not None and existing.enabled)
    new = PluginInfo.new(manifest, path, source, enabled=wanted)
    mark = ctx.running.events.mark()  # "installed" comes before the enable it proved
    snapshot = None
    if existing is not None:
        snapshot = snapshot_locked(ctx, existing, f"before installing {manifest.version}")
    if wanted:
        try:
            _enable_new(ctx, new)
        except (PluginEnableError, RestartRequired) as error:
            if existing is None or snapshot is None:
                failed = replace(new, enabled=False, status=FAILED, last_error=_text(error))
                ctx.store.put(failed)
                ctx.running.own_disabled(failed)
                raise
            message = (
                f"upgrade to {manifest.version} failed: {_text(error)}; rolled back to "
                f"{existing.version} (snapshot {snapshot.id})"
            )
            ctx.record(manifest.id, last_error=message)
            raise PluginEnableError(
                f"plugin {manifest.id!r}: {message}",
                plugin_id=manifest.id,
                error=message,
                previous_kept=True,
            ) from error
    info = ctx.store.put(new)
    _settle(ctx, info, existing)
    ctx.running.events.queue("lazyext_plugin_installed", at=mark, plugin_id=info.id, info=info)
    return info


def _enable_new(ctx: Context, new: PluginInfo) -> None:
    if new.id in ctx.running.loaded:
        ctx.running.swap(new.id, new)
    else:
        ctx.running.load(new)


def _settle(ctx: Context, info: PluginInfo, previous: PluginInfo | None) -> None:
    """After the pointer moved: this process runs ``info``; old versions go."""
    loaded = ctx.running.loaded.get(info.id)
    if loaded is not None:
        loaded.info = info
    else:
        ctx.running.finder.own(info.manifest, info.path, loadable=False)
    # The previous version stays one more round: other processes may still run it.
    keep = {info.path} | ({previous.path} if previous is not None else set())
    _files.prune_versions(ctx.root, info.id, keep)


def _text(error: BaseException) -> str:
    return error.error if isinstance(error, PluginEnableError) else str(error)


def snapshot_locked(ctx: Context, info: PluginInfo, note: str) -> SnapshotInfo:
    """Copy the plugin's files, manifest and state (caller holds the plugin lock)."""
    tree = DirTree(info.path, Limits(max_bytes=ctx.settings.max_archive_bytes))
    staging = _files.new_staging(ctx.root, info.id)
    try:
        tree.extract(os.path.join(staging, "files"), {path: path for path in tree.files})
        _files.write_json(os.path.join(staging, "manifest.json"), info.manifest.as_dict())
        _files.write_json(os.path.join(staging, "state.json"), info.as_dict())
        path = _files.publish(staging, ctx.root, info.id, "snapshots")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        snapshot = ctx.store.add_snapshot(info, path, note)
    except BaseException:
        _files.remove(ctx.root, path)
        raise
    _prune_snapshots(ctx, info.id)
    return snapshot


def _prune_snapshots(ctx: Context, plugin_id: str) -> None:
    keep = ctx.settings.keep_snapshots
    snapshots = ctx.store.snapshots(plugin_id)
    extra = snapshots[: max(0, len(snapshots) - keep)]
    if extra:
        ctx.store.delete_snapshots([snapshot.id for snapshot in extra])
        for snapshot in extra:
            _files.remove(ctx.root, snapshot.path)


def restore(ctx: Context, plugin_id: str, snapshot_id: int) -> PluginInfo:
    """Make a snapshot current again: files, manifest and state (enabled or not)."""
    with ctx.changing(), ctx.plugin_lock(plugin_id):
        current = ctx.store.require(plugin_id)
        snapshot = ctx.store.snapshot(plugin_id, snapshot_id)
        manifest = snapshot.manifest
        ctx.running.check_names(manifest, current.path)
        ctx.running.refuse_if_extension(plugin_id)
        provision_dependencies(manifest.dependencies, ctx.config)
        _files.check_folder(ctx.root, snapshot.path, plugin_id=plugin_id)
        tree = DirTree(snapshot.files, Limits(max_bytes=ctx.settings.max_archive_bytes))
        copy = {path: path for path in tree.files}
        path = _publish(ctx, plugin_id, tree, copy, "versions", manifest.version)
        state = snapshot.state
        enabled = bool(state.get("enabled"))
        new = replace(
            PluginInfo.new(manifest, path, str(state.get("source", "")), enabled=enabled),
            installed_at=float(state.get("installed_at", current.installed_at)),
            status=ENABLED if enabled else DISABLED,
        )
        try:
            if enabled:
                _enable_new(ctx, new)
            else:
                ctx.running.unload(plugin_id)
        except (PluginEnableError, RestartRequired) as error:
            _files.remove(ctx.root, path)
            message = (
                f"restoring snapshot {snapshot_id} failed: {_text(error)}; kept {current.version}"
            )
            ctx.record(plugin_id, last_error=message)
            raise PluginEnableError(
                f"plugin {plugin_id!r}: {message}",
                plugin_id=plugin_id,
                error=message,
                previous_kept=True,
            ) from error
        except BaseException:
            _files.remove(ctx.root, path)
            raise
        info = ctx.store.put(new)
        _settle(ctx, info, current)
        return info


def update(
    manager: PluginManager,
    plugin_id: str,
    *,
    enabled: bool | None = None,
    arguments: Mapping[str, Any] | None = None,
) -> PluginInfo:
    """Change the record: ``arguments`` replaces the recorded ones, ``enabled`` enables
    or disables. A plugin running here whose arguments change is reloaded with them
    (and followed by other processes); if that fails, the previous arguments are
    recorded again, the previous version keeps running, and the error is raised."""
    manager.store.require(plugin_id)
    if enabled is False:
        manager.disable(plugin_id)
    if arguments is not None:
        _set_arguments(manager, plugin_id, _json_object(arguments))
    return manager.enable(plugin_id) if enabled else manager.info(plugin_id)


def _set_arguments(manager: PluginManager, plugin_id: str, arguments: dict[str, Any]) -> None:
    with manager._ctx.lock:
        previous = manager.store.arguments(plugin_id)
        if arguments == previous:
            return
        manager.store.update(plugin_id, arguments=arguments)
        if plugin_id not in manager.running.loaded:
            return  # the next enable constructs it with them
        try:
            manager.reload(plugin_id)
        except PluginError:
            manager.store.update(plugin_id, arguments=previous)
            raise


def _json_object(arguments: Mapping[str, Any]) -> dict[str, Any]:
    # Recorded in the shared state as JSON: every process reads back the same values.
    try:
        value: dict[str, Any] = json.loads(json.dumps(dict(arguments)))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"plugin arguments must be JSON values: {error}") from error
    return value


def uninstall(ctx: Context, plugin_id: str) -> PluginInfo:
    """Disable (``on_disable``), unload, then remove state, snapshots and files."""
    with ctx.changing(), ctx.plugin_lock(plugin_id):
        info = ctx.store.require(plugin_id)
        ctx.running.unload(plugin_id)
        ctx.running.finder.disown(plugin_id)
        snapshot_paths = ctx.store.delete(plugin_id)
        # An editable plugin's folder is the author's: forgotten, never deleted.
        own = not is_editable(ctx.root, info.path)
        for path in [*([info.path] if own else []), *snapshot_paths]:
            _files.remove(ctx.root, path)
        mine = _plugin_dir(info.path, plugin_id) if own else None
        for directory in {os.path.join(ctx.root, plugin_id), mine}:
            if directory is not None:
                _files.remove(ctx.root, directory)
        ctx.running.events.queue("lazyext_plugin_uninstalled", plugin_id=plugin_id, info=info)
        return info


def _plugin_dir(path: str, plugin_id: str) -> str | None:
    """``<directory>/<id>`` of a version path, even under a former plugins directory."""
    candidate = os.path.dirname(os.path.dirname(path))
    return candidate if os.path.basename(candidate) == plugin_id else None
