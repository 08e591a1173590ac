"""Per-key locks: a thread lock inside the process, a ``filelock`` across processes.

Always a finite timeout; never a silent fallback to a weaker lock: filelock's default
falls back to a soft (marker-file) lock where ``flock`` is unavailable, which on a
network filesystem gives two processes the "same" lock.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from lazyext._errors import LockTimeout, UnsafeCacheError

if TYPE_CHECKING:
    import filelock

logger = logging.getLogger("lazyext")

_guard = threading.Lock()
_thread_locks: dict[str, threading.Lock] = {}


def _reset_after_fork() -> None:
    # A lock held by a thread that does not exist in the child would never be released.
    global _guard, _thread_locks
    _guard = threading.Lock()
    _thread_locks = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _thread_lock(name: str) -> threading.Lock:
    with _guard:
        return _thread_locks.setdefault(name, threading.Lock())


@contextmanager
def key_lock(root: str, key: str, timeout: float) -> Iterator[None]:
    """Hold ``key`` against other threads and processes, or raise :class:`LockTimeout`."""
    path = Path(root, "locks", f"{key}.lock")
    local = _thread_lock(str(path))
    if not local.acquire(timeout=timeout if timeout >= 0 else -1):
        raise _timeout(path, timeout, "another thread of this process")
    try:
        with _file_lock(path, timeout):
            yield
    finally:
        local.release()


@contextmanager
def try_key_lock(root: str, key: str) -> Iterator[bool]:
    """Hold ``key`` if it is free right now; yield whether it was (for gc)."""
    path = Path(root, "locks", f"{key}.lock")
    local = _thread_lock(str(path))
    if not local.acquire(blocking=False):
        yield False
        return
    try:
        import filelock

        lock = _make(path)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()
    finally:
        local.release()


@contextmanager
def _file_lock(path: Path, timeout: float) -> Iterator[None]:
    import filelock

    lock = _make(path)
    try:
        lock.acquire(timeout=timeout)
    except filelock.Timeout as error:
        raise _timeout(path, timeout, "another process") from error
    try:
        yield
    finally:
        lock.release()


def _make(path: Path) -> filelock.BaseFileLock:
    import filelock

    path.parent.mkdir(mode=0o700, exist_ok=True)
    try:
        return filelock.FileLock(path, mode=0o600, fallback_to_soft=False)
    except (NotImplementedError, OSError) as error:
        raise UnsafeCacheError(
            f"cannot lock {str(path)!r} ({error}): the cache must be on a local filesystem "
            "that supports flock; set LAZYEXT_CACHE_DIR to one",
            path=str(path.parent),
        ) from error


def _timeout(path: Path, timeout: float, holder: str) -> LockTimeout:
    return LockTimeout(
        f"timed out after {timeout:g} s waiting for the lock {str(path)!r}, held by {holder} "
        "(an install of the same requirement is running); wait for it, raise lock-timeout, "
        "or remove the lock file if no lazyext process is running",
        lock_file=str(path),
        timeout=timeout,
    )
