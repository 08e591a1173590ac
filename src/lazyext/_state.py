"""The shared SQLite state of plugins and tasks.

One database, ``<data dir>/state.sqlite3`` (``LAZYEXT_DATA_DIR`` overrides the data
directory), shared by every lazyext process of a user. WAL mode lets readers proceed
while one process writes; writes take ``BEGIN IMMEDIATE`` so two processes never
interleave a read-modify-write; a busy timeout turns contention into waiting, not
errors. Each component (``plugins``, ``tasks``) owns its tables and migrates them
with its own numbered list of statements.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from lazyext._config import default_data_root
from lazyext._errors import LazyextError

DB_NAME = "state.sqlite3"
_BUSY_TIMEOUT_MS = 30_000
_migrate_lock = threading.Lock()


class StateError(LazyextError, RuntimeError):
    """The state database cannot be opened or is damaged."""


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The data directory, created 0700."""
    path = Path(override) if override is not None else Path(default_data_root())
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def connect(directory: str | os.PathLike[str] | None = None) -> sqlite3.Connection:
    """A new connection (one per thread; sqlite3 connections are not shared)."""
    path = data_dir(directory) / DB_NAME
    try:
        connection = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        _switch_to_wal(connection)
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as error:
        if _busy(error):
            raise StateError(
                f"the state database {str(path)!r} stayed locked by another process for "
                f"{_BUSY_TIMEOUT_MS // 1000} s: {error}; retry once that process is done"
            ) from error
        raise StateError(
            f"cannot open the state database {str(path)!r}: {error}; move it aside to start "
            "with empty plugin and task state"
        ) from error
    return connection


def _switch_to_wal(connection: sqlite3.Connection) -> None:
    # While another connection holds a lock on a database not yet in WAL mode (the
    # first of several processes creating it), SQLite answers this pragma "database is
    # locked" at once, without its busy handler: wait here as the handler would.
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if not _busy(error) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def _busy(error: sqlite3.DatabaseError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def migrate(connection: sqlite3.Connection, component: str, migrations: Sequence[str]) -> None:
    """Apply ``migrations[n:]`` for ``component``, where ``n`` is its recorded version.

    Each migration is a script of SQL statements; all pending ones run in one
    transaction, so a crash leaves the previous schema intact. An up-to-date schema
    is seen with a read: opening the state takes no write lock.
    """
    if _version(connection, component) == len(migrations):
        return
    with _migrate_lock, transaction(connection):
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions "
            "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        row = connection.execute(
            "SELECT version FROM schema_versions WHERE component = ?", (component,)
        ).fetchone()
        current = int(row[0]) if row is not None else 0
        if current > len(migrations):
            raise StateError(
                f"the state database has {component} schema version {current}, newer than "
                f"this lazyext knows ({len(migrations)}); upgrade lazyext"
            )
        for script in migrations[current:]:
            for statement in _statements(script):
                connection.execute(statement)
        connection.execute(
            "INSERT INTO schema_versions (component, version) VALUES (?, ?) "
            "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
            (component, len(migrations)),
        )


def _version(connection: sqlite3.Connection, component: str) -> int | None:
    try:
        row = connection.execute(
            "SELECT version FROM schema_versions WHERE component = ?", (component,)
        ).fetchone()
    except sqlite3.OperationalError:  # no such table yet
        return None
    return int(row[0]) if row is not None else None


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]
