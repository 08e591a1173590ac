"""The shared SQLite state of plugins and tasks.

One database, ``<data dir>/state.sqlite3`` (``LAZYEXT_DATA_DIR`` overrides the data
directory), shared by every lazyext process of a user. WAL mode lets readers proceed
while one process writes; writes take ``BEGIN IMMEDIATE`` so two processes never
interleave a read-modify-write; a busy timeout turns contention into waiting, not
errors. Each component (``plugins``, ``tasks``) owns its tables and migrates them
with its own numbered list of statements.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from lazyext import _trust
from lazyext._errors import LazyextError
from lazyext._settings.config import default_data_root

DB_NAME = "state.sqlite3"
_BUSY_TIMEOUT_MS = 30_000
_migrate_lock = threading.Lock()


class StateError(LazyextError, RuntimeError):
    """The state database cannot be opened or is damaged."""


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: created 0700, and refused unless only this user controls it
    (tasks and plugins recorded there run as this user)."""
    path = os.fspath(override) if override is not None else default_data_root()
    return Path(_trust.ensure_dir(path, what="data directory"))


def connect(directory: str | os.PathLike[str] | None = None) -> sqlite3.Connection:
    """A new connection (one per thread; sqlite3 connections are not shared)."""
    path = data_dir(directory) / DB_NAME
    connection: sqlite3.Connection | None = None
    try:
        # Created 0600 before SQLite opens it (SQLite would make it 0644); its -wal and
        # -shm files take the database's mode.
        _trust.private_file(str(path), what="state database")
        connection = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        _switch_to_wal(connection)
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA synchronous = NORMAL")
    except (sqlite3.DatabaseError, OSError) as error:
        if connection is not None:
            connection.close()
        if isinstance(error, LazyextError):
            raise
        raise explain(error, path) from error
    return connection


def explain(error: sqlite3.DatabaseError | OSError, path: str | os.PathLike[str]) -> StateError:
    """The error a user gets for ``error`` on the database at ``path``: what happened and
    what to do, checked (free space, ``PRAGMA quick_check``) rather than guessed.

    Only a database that fails its own check is called damaged: advice to move an
    intact one aside would throw away every plugin and task record.
    """
    path = os.fspath(path)
    if isinstance(error, sqlite3.DatabaseError) and _busy(error):
        return StateError(
            f"the state database {path!r} stayed locked by another process for "
            f"{_BUSY_TIMEOUT_MS // 1000} s: {error}; retry once that process is done"
        )
    code = getattr(error, "sqlite_errorcode", None)
    full = (code is not None and code & 0xFF == sqlite3.SQLITE_FULL) or (
        isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
    )
    free = _free_bytes(os.path.dirname(path))
    if full or (free is not None and free < _LOW_SPACE):
        return StateError(
            f"the disk holding the state database {path!r} is full ({free} bytes free): "
            f"{error}; free some space and retry. The database itself is untouched: keep it"
        )
    verdict = _quick_check(path)
    if verdict == "ok":
        return StateError(
            f"cannot use the state database {path!r}: {error}. It is intact (PRAGMA "
            "quick_check passed): keep it; check its permissions and the directory's, "
            "and retry"
        )
    if verdict is None:
        return StateError(
            f"cannot open the state database {path!r}: {error}; check that this user can "
            "read and write it and its directory, and retry (keep the file)"
        )
    return StateError(
        f"the state database {path!r} is damaged ({verdict}): {error}. Keep a copy, then "
        "recover what you can with: sqlite3 state.sqlite3 .recover | sqlite3 new.sqlite3 "
        "(or move it aside to start with empty plugin and task state)"
    )


#: Below this much free space, a failing write is put down to the disk, not the data.
_LOW_SPACE = 1 << 20


def _free_bytes(directory: str) -> int | None:
    try:
        info = os.statvfs(directory)
    except (OSError, AttributeError):
        return None
    return info.f_bavail * info.f_frsize


def _quick_check(path: str) -> str | None:
    """``"ok"``, what ``PRAGMA quick_check`` found, or ``None`` if it could not run."""
    try:
        checker = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        rows = checker.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as error:
        return None if _busy(error) else str(error)
    finally:
        checker.close()
    found = "; ".join(str(row[0]) for row in rows[:3])
    return "ok" if found == "ok" else found


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
