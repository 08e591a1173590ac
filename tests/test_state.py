"""The shared SQLite state: opened while another process holds a lock on it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from lazyext import _state


def test_opening_waits_for_a_lock_held_while_the_database_is_new(tmp_path: Path) -> None:
    # A process that created the database holds a lock on it before it is in WAL mode
    # (what the first of several processes starting at once does). SQLite answers the
    # switch into WAL "database is locked" at once, without its busy handler: opening
    # must wait that out, as it waits for any other lock, not call the database damaged.
    holder = sqlite3.connect(
        tmp_path / _state.DB_NAME, isolation_level=None, check_same_thread=False
    )
    holder.execute("CREATE TABLE other (a INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.3, holder.execute, ("COMMIT",))
    released.start()
    try:
        connection = _state.connect(tmp_path)
    finally:
        released.join()
        holder.close()
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


def test_a_damaged_database_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / _state.DB_NAME).write_bytes(b"not a database" * 100)
    with pytest.raises(_state.StateError, match="move it aside"):
        _state.connect(tmp_path)
