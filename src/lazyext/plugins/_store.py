"""Plugin state in the shared SQLite database (component ``plugins``).

One row per installed plugin and one per snapshot. The row's ``path`` is the pointer
to the plugin's current files: installing, upgrading and restoring publish a new
directory first and then move the pointer in one transaction, so every process sees
either the old or the new version, never a mix. ``revision`` grows with every such
move (and with every explicit reload), which is how running managers notice changes
made by other processes. Writes use ``BEGIN IMMEDIATE``: two processes never
interleave a read-modify-write, and contention waits instead of failing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final

from lazyext import _state
from lazyext.plugins._errors import PluginNotFound
from lazyext.plugins._manifest import Manifest

_MIGRATIONS: Final = (
    """
    CREATE TABLE plugins (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        author TEXT NOT NULL DEFAULT '',
        enabled INTEGER NOT NULL DEFAULT 0,
        installed_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        path TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT '',
        manifest TEXT NOT NULL,
        dependencies TEXT NOT NULL DEFAULT '[]',
        status TEXT NOT NULL DEFAULT 'disabled',
        last_error TEXT,
        revision INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE plugin_snapshots (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        plugin_id TEXT NOT NULL REFERENCES plugins(id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        version TEXT NOT NULL,
        path TEXT NOT NULL,
        manifest TEXT NOT NULL,
        state TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX plugin_snapshots_by_plugin ON plugin_snapshots (plugin_id)
    """,
    # The arguments set on the record (PATCH /plugins/{id}), over the config's: a
    # setting of the plugin, so installs, upgrades and restores leave it alone.
    "ALTER TABLE plugins ADD COLUMN arguments TEXT NOT NULL DEFAULT '{}'",
)

#: ``status`` values: the outcome of the last enable/disable.
ENABLED: Final = "enabled"
DISABLED: Final = "disabled"
FAILED: Final = "failed"


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One installed plugin as recorded in the state database."""

    id: str
    name: str
    version: str
    description: str
    author: str
    enabled: bool  # the wanted state, shared by every process
    status: str  # "enabled", "disabled" or "failed" (enabling raised; see last_error)
    installed_at: float
    updated_at: float
    path: str  # the directory holding the plugin's files (its import root)
    source: str  # folder, zip or requirement it was installed from
    dependencies: tuple[str, ...]
    last_error: str | None
    revision: int
    manifest: Manifest = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dependencies"] = list(self.dependencies)
        data["manifest"] = self.manifest.as_dict()
        return data

    @classmethod
    def new(cls, manifest: Manifest, path: str, source: str, *, enabled: bool) -> PluginInfo:
        now = time.time()
        return cls(
            id=manifest.id,
            name=manifest.name,
            version=manifest.version,
            description=manifest.description,
            author=manifest.author,
            enabled=enabled,
            status=ENABLED if enabled else DISABLED,
            installed_at=now,
            updated_at=now,
            path=path,
            source=source,
            dependencies=manifest.dependencies,
            last_error=None,
            revision=1,
            manifest=manifest,
        )


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """A saved copy of a plugin: its files, manifest and state."""

    id: int
    plugin_id: str
    created_at: float
    version: str
    path: str  # the snapshot's directory; its files are in ``<path>/files``
    note: str
    manifest: Manifest = field(repr=False)
    state: dict[str, Any] = field(repr=False)

    @property
    def files(self) -> str:
        return os.path.join(self.path, "files")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["manifest"] = self.manifest.as_dict()
        return data


class Store:
    """Short-lived connections (one per operation), so any thread may use it."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self._migrated = False
        self._guard = threading.Lock()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = _state.connect(self.data_dir)
        try:
            with self._guard:
                if not self._migrated:
                    _state.migrate(connection, "plugins", _MIGRATIONS)
                    self._migrated = True
            yield connection
        except sqlite3.DatabaseError as error:  # disk full, damaged: say which (_state)
            raise _state.explain(error, _state.data_dir(self.data_dir) / _state.DB_NAME) from error
        finally:
            connection.close()

    def get(self, plugin_id: str) -> PluginInfo | None:
        with self._connect() as connection:
            row = connection.execute("SELECT * FROM plugins WHERE id = ?", (plugin_id,)).fetchone()
        return _plugin(row) if row is not None else None

    def require(self, plugin_id: str) -> PluginInfo:
        info = self.get(plugin_id)
        if info is None:
            raise PluginNotFound(
                f"no plugin {plugin_id!r} is installed (see: lazyext plugins list)",
                plugin_id=plugin_id,
            )
        return info

    def arguments(self, plugin_id: str) -> dict[str, Any]:
        """The arguments recorded for the plugin (``{}`` if none, or not installed)."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT arguments FROM plugins WHERE id = ?", (plugin_id,)
            ).fetchone()
        arguments: dict[str, Any] = json.loads(row[0]) if row is not None else {}
        return arguments

    def all(self) -> list[PluginInfo]:
        with self._connect() as connection:
            rows = connection.execute("SELECT * FROM plugins ORDER BY id").fetchall()
        return [_plugin(row) for row in rows]

    def put(self, info: PluginInfo) -> PluginInfo:
        """Insert or replace a plugin's row; ``revision`` becomes the stored one + 1."""
        values = _columns(info)
        with self._connect() as connection, _state.transaction(connection):
            row = connection.execute(
                "SELECT revision FROM plugins WHERE id = ?", (info.id,)
            ).fetchone()
            values["revision"] = (int(row[0]) + 1) if row is not None else 1
            names = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            # An upsert, not INSERT OR REPLACE: REPLACE deletes the row first, and the
            # foreign key's ON DELETE CASCADE would take the snapshots with it.
            updates = ", ".join(f"{name} = excluded.{name}" for name in values if name != "id")
            connection.execute(
                f"INSERT INTO plugins ({names}) VALUES ({marks}) "
                f"ON CONFLICT(id) DO UPDATE SET {updates}",
                tuple(values.values()),
            )
        return replace(info, revision=values["revision"])

    def update(self, plugin_id: str, *, bump: bool = False, **changes: Any) -> PluginInfo:
        """Change some fields of a row (``bump``: also its revision)."""
        changes["updated_at"] = time.time()
        if "enabled" in changes:
            changes["enabled"] = int(bool(changes["enabled"]))
        if "arguments" in changes:
            changes["arguments"] = json.dumps(dict(changes["arguments"]), sort_keys=True)
        sets = ", ".join(f"{name} = ?" for name in changes)
        if bump:
            sets += ", revision = revision + 1"
        with self._connect() as connection, _state.transaction(connection):
            cursor = connection.execute(
                f"UPDATE plugins SET {sets} WHERE id = ?", (*changes.values(), plugin_id)
            )
            if cursor.rowcount == 0:
                raise PluginNotFound(f"plugin {plugin_id!r} was uninstalled", plugin_id=plugin_id)
            row = connection.execute("SELECT * FROM plugins WHERE id = ?", (plugin_id,)).fetchone()
        return _plugin(row)

    def delete(self, plugin_id: str) -> list[str]:
        """Remove a plugin and its snapshots; return the snapshot directories."""
        with self._connect() as connection, _state.transaction(connection):
            paths = [
                str(row[0])
                for row in connection.execute(
                    "SELECT path FROM plugin_snapshots WHERE plugin_id = ?", (plugin_id,)
                )
            ]
            connection.execute("DELETE FROM plugin_snapshots WHERE plugin_id = ?", (plugin_id,))
            connection.execute("DELETE FROM plugins WHERE id = ?", (plugin_id,))
        return paths

    def add_snapshot(self, info: PluginInfo, path: str, note: str) -> SnapshotInfo:
        state = info.as_dict()
        state.pop("manifest")
        with self._connect() as connection, _state.transaction(connection):
            cursor = connection.execute(
                "INSERT INTO plugin_snapshots (plugin_id, created_at, version, path, manifest, "
                "state, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    info.id,
                    time.time(),
                    info.version,
                    path,
                    json.dumps(info.manifest.as_dict()),
                    json.dumps(state),
                    note,
                ),
            )
            row = connection.execute(
                "SELECT * FROM plugin_snapshots WHERE id = ?", (cursor.lastrowid,)
            ).fetchone()
        return _snapshot(row)

    def snapshots(self, plugin_id: str) -> list[SnapshotInfo]:
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT * FROM plugin_snapshots WHERE plugin_id = ? ORDER BY id", (plugin_id,)
            ).fetchall()
        return [_snapshot(row) for row in rows]

    def snapshot(self, plugin_id: str, snapshot_id: int) -> SnapshotInfo:
        with self._connect() as connection:
            row = connection.execute(
                "SELECT * FROM plugin_snapshots WHERE plugin_id = ? AND id = ?",
                (plugin_id, snapshot_id),
            ).fetchone()
        if row is None:
            raise PluginNotFound(
                f"plugin {plugin_id!r} has no snapshot {snapshot_id} "
                f"(see: lazyext plugins snapshots {plugin_id})",
                plugin_id=plugin_id,
            )
        return _snapshot(row)

    def delete_snapshots(self, ids: list[int]) -> None:
        with self._connect() as connection, _state.transaction(connection):
            connection.executemany("DELETE FROM plugin_snapshots WHERE id = ?", [(i,) for i in ids])


def _columns(info: PluginInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "author": info.author,
        "enabled": int(info.enabled),
        "installed_at": info.installed_at,
        "updated_at": time.time(),
        "path": info.path,
        "source": info.source,
        "manifest": json.dumps(info.manifest.as_dict()),
        "dependencies": json.dumps(list(info.dependencies)),
        "status": info.status,
        "last_error": info.last_error,
    }


def _plugin(row: sqlite3.Row) -> PluginInfo:
    return PluginInfo(
        id=row["id"],
        name=row["name"],
        version=row["version"],
        description=row["description"],
        author=row["author"],
        enabled=bool(row["enabled"]),
        status=row["status"],
        installed_at=row["installed_at"],
        updated_at=row["updated_at"],
        path=row["path"],
        source=row["source"],
        dependencies=tuple(json.loads(row["dependencies"])),
        last_error=row["last_error"],
        revision=row["revision"],
        manifest=Manifest.from_dict(json.loads(row["manifest"])),
    )


def _snapshot(row: sqlite3.Row) -> SnapshotInfo:
    return SnapshotInfo(
        id=row["id"],
        plugin_id=row["plugin_id"],
        created_at=row["created_at"],
        version=row["version"],
        path=row["path"],
        note=row["note"],
        manifest=Manifest.from_dict(json.loads(row["manifest"])),
        state=json.loads(row["state"]),
    )
