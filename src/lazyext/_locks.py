"""Per-key locks: a thread lock inside the process, a ``filelock`` across processes.

Always a finite timeout; never a silent fallback to a weaker lock: filelock's default
falls back to a soft (marker-file) lock where ``flock`` is unavailable, which on a
network filesystem gives two processes the "same" lock. filelock (>= 3.20.3) opens
lock files without following symlinks. Importing it costs an uncached first import
15-40 ms (benchmarks B4 and B6); that price buys one audited lock implementation for
every platform instead of a hand-rolled ``flock`` loop.
"""

from __future__ import annotations

import _thread
import os
from contextlib import contextmanager

from lazyext._errors import LockTimeout, UnsafeCacheError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    import filelock

#: Longest sleep between two tries of a held lock: a waiter notices a release within
#: this (benchmarks/README.md, B6).
POLL_MAX = 0.01

_guard = _thread.allocate_lock()
_thread_locks: dict[str, _thread.LockType] = {}


def _reset_after_fork() -> None:
    # A lock held by a thread that does not exist in the child would never be released.
    global _guard, _thread_locks
    _guard = _thread.allocate_lock()
    _thread_locks = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _thread_lock(name: str) -> _thread.LockType:
    with _guard:
        lock = _thread_locks.get(name)
        if lock is None:
            lock = _thread_locks[name] = _thread.allocate_lock()
        return lock


def _lock_path(root: str, key: str) -> str:
    return os.path.join(root, "locks", f"{key}.lock")


@contextmanager
def key_lock(root: str, key: str, timeout: float) -> Iterator[None]:
    """Hold ``key`` against other threads and processes, or raise :class:`LockTimeout`."""
    path = _lock_path(root, key)
    local = _thread_lock(path)
    if not local.acquire(timeout=timeout if timeout >= 0 else -1):
        raise _timeout(path, timeout, "another thread of this process")
    try:
        with _file_lock(path, timeout):
            _note_holder(path)
            yield
    finally:
        local.release()


def _note_holder(path: str) -> None:
    """Record who holds the lock, so that a waiter that times out can name it."""
    import time

    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(f"{path}.holder", flags, 0o600)
    except OSError:
        return  # informational only
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {time.time():.0f}\n")


def _holder(path: str) -> str:
    import time

    try:
        with open(f"{path}.holder", encoding="utf-8") as handle:
            pid_text, since_text = handle.read().split()[:2]
        pid, since = int(pid_text), float(since_text)
        os.kill(pid, 0)  # a note left by a holder that died says nothing about this one
    except PermissionError:
        pass  # alive, another user's
    except (OSError, ValueError, OverflowError):
        return "another process"
    return f"process {pid} (holding it for {max(0.0, time.time() - since):.0f} s)"


@contextmanager
def try_key_lock(root: str, key: str) -> Iterator[bool]:
    """Hold ``key`` if it is free right now; yield whether it was (for gc)."""
    path = _lock_path(root, key)
    local = _thread_lock(path)
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
        except OSError as error:
            raise _unusable(path, error) from error
        try:
            yield True
        finally:
            lock.release()
    finally:
        local.release()


@contextmanager
def _file_lock(path: str, timeout: float) -> Iterator[None]:
    import filelock

    lock = _make(path)
    try:
        lock.acquire(timeout=timeout, poll_interval=POLL_MAX)
    except filelock.Timeout as error:
        raise _timeout(path, timeout, _holder(path)) from error
    except OSError as error:
        raise _unusable(path, error) from error
    try:
        yield
    finally:
        lock.release()


def _unusable(path: str, error: OSError) -> OSError:
    """A lock file that cannot be opened: a planted symlink is refused by name."""
    if os.path.islink(path):
        return UnsafeCacheError(
            f"refusing the lock file {path!r}: it is a symlink (lock files are opened "
            "without following links); remove it",
            path=str(path),
        )
    return error


def _make(path: str) -> filelock.BaseFileLock:
    import filelock

    from lazyext._cache import private_dir

    private_dir(os.path.dirname(os.path.dirname(path)), os.path.basename(os.path.dirname(path)))
    try:
        return filelock.FileLock(path, mode=0o600, fallback_to_soft=False)
    except (NotImplementedError, OSError) as error:
        raise UnsafeCacheError(
            f"cannot lock {path!r} ({error}): the cache must be on a local filesystem "
            "that supports flock; set LAZYEXT_CACHE_DIR to one",
            path=os.path.dirname(path),
        ) from error


def _timeout(path: str, timeout: float, holder: str) -> LockTimeout:
    return LockTimeout(
        f"timed out after {timeout:g} s waiting for the lock {path!r}, held by {holder} "
        "(an install of the same requirement is running); wait for it or raise lock-timeout. "
        "The lock is released when its holder exits, even if it is killed: a lock file "
        "left behind is not held and needs no removal",
        lock_file=path,
        timeout=timeout,
    )
