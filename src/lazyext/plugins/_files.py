"""The managed plugin directory on disk.

Layout (the directory is created 0700 and refused if others can write to it: whoever
can write there chooses what ``import`` runs)::

    <directory>/
        <id>/versions/<version>-<stamp>/     a plugin's files; the state row points at one
        <id>/snapshots/<stamp>/files/        a snapshot's files (+ manifest.json, state.json)
        .lazyext/staging/<id>.<pid>.<rand>/  work in progress, renamed into place when done
        .lazyext/trash/                      directories being removed
        .lazyext/locks/plugin-<id>.lock      one cross-process lock per plugin

Plugin ids never start with ``.``, so they cannot collide with ``.lazyext``. Every new
directory is built in ``staging`` and renamed into place (atomic on one filesystem):
readers see a complete directory or none.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from lazyext._errors import UnsafeCacheError
from lazyext._store.entries import private_dir
from lazyext._store.locks import key_lock
from lazyext._trust import check_inside, ensure_dir
from lazyext.plugins._errors import ManifestError, PluginEnableError, PluginNotFound
from lazyext.plugins._manifest import check_id

_META: Final = ".lazyext"
#: Staging directories older than this are leftovers of a crash.
_STALE_SECONDS: Final = 3600.0


def ensure_root(directory: str) -> str:
    return ensure_dir(directory, what="plugins directory")


def check_folder(root: str, path: str, *, plugin_id: str) -> str:
    """A folder named by a state row: inside ``root`` and passing the trust rule.

    The row is data; whoever could write to the database would otherwise choose what
    ``on_enable`` runs, or what gets copied or deleted.
    """
    try:
        return check_inside(path, root, what=f"folder of plugin {plugin_id!r}")
    except UnsafeCacheError as error:
        raise PluginEnableError(
            f"plugin {plugin_id!r} was not enabled: {error}", plugin_id=plugin_id
        ) from error


@contextmanager
def plugin_lock(root: str, plugin_id: str, timeout: float) -> Iterator[None]:
    """Hold ``plugin_id`` against other threads and processes (not re-entrant).

    The id names the lock file: one that is not a valid plugin id (a NUL, control
    characters, ``..``, 300 characters) is :class:`PluginNotFound`, and no file is made.
    """
    try:
        check_id(plugin_id)
    except ManifestError:
        raise PluginNotFound(
            f"no plugin {plugin_id!r}: not a valid plugin id", plugin_id=plugin_id
        ) from None
    with key_lock(_meta(root), f"plugin-{plugin_id}", timeout):
        yield


def _meta(root: str, *names: str) -> str:
    """``<root>/.lazyext/<names>``, each component checked to be this user's directory."""
    return private_dir(root, _META, *names)


def new_staging(root: str, plugin_id: str) -> str:
    staging = _meta(root, "staging")
    path = os.path.join(staging, f"{plugin_id}.{os.getpid()}.{os.urandom(4).hex()}")
    os.mkdir(path, mode=0o700)
    return path


def _stamp() -> str:
    return f"{time.time_ns():020d}-{os.urandom(2).hex()}"


def publish(staging: str, root: str, plugin_id: str, kind: str, label: str = "") -> str:
    """Rename a finished staging directory to ``<id>/<kind>/<label><stamp>``."""
    parent = os.path.join(root, plugin_id, kind)
    os.makedirs(parent, mode=0o700, exist_ok=True)
    final = os.path.join(parent, f"{label}-{_stamp()}" if label else _stamp())
    os.rename(staging, final)
    return final


def write_json(path: str, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")


def remove(root: str, path: str) -> None:
    """Move ``path`` out of sight first (atomic), then delete it."""
    if not os.path.lexists(path):
        return
    parent, real_root = os.path.realpath(os.path.dirname(path)), os.path.realpath(root)
    if os.path.commonpath([parent, real_root]) != real_root:
        raise UnsafeCacheError(
            f"refusing to remove {path!r}: it is outside the plugins directory {root!r} "
            "(the state database names it; something else than lazyext wrote that)",
            path=path,
        )
    trash = _meta(root, "trash")
    moved = os.path.join(trash, f"{os.path.basename(path)}.{_stamp()}")
    try:
        os.rename(path, moved)
    except OSError:
        moved = path
    shutil.rmtree(moved, ignore_errors=True)


def prune_versions(root: str, plugin_id: str, keep: set[str]) -> None:
    """Remove the plugin's version directories except ``keep``."""
    parent = os.path.join(root, plugin_id, "versions")
    try:
        names = os.listdir(parent)
    except OSError:
        return
    kept = {os.path.realpath(path) for path in keep}
    for name in names:
        path = os.path.join(parent, name)
        if os.path.realpath(path) not in kept:
            remove(root, path)


def clean_leftovers(root: str) -> None:
    """Staging and trash left behind by a crashed process (old enough to be dead)."""
    now = time.time()
    for kind in ("staging", "trash"):
        parent = os.path.join(root, _META, kind)
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            path = os.path.join(parent, name)
            try:
                if now - os.lstat(path).st_mtime > _STALE_SECONDS:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                continue
