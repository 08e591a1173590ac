"""Per-key locks: a thread lock inside the process, a file lock across processes.

Two implementations of the file lock, with the same semantics (a finite timeout, the
holder recorded, lock files opened without following symlinks and created 0600, fork
safety, never a silent fallback to a weaker lock):

- ``fcntl``: on POSIX, the per-key *install* lock (:func:`key_lock`), on the cold path
  of every first import, takes ``flock`` directly. Importing filelock costs 35-40 ms
  (asyncio or typing, logging, inspect, secrets), which every waiter of benchmark B6
  paid; ``fcntl`` costs nothing.
- ``filelock`` (>= 3.20.3) everywhere else: other platforms, and every lock off the
  cold path (gc's :func:`try_key_lock`). Both take ``flock`` on the same file, so they
  exclude each other.

``tests/store/test_locks.py`` runs one suite against both (``BACKEND``).
"""

from __future__ import annotations

import _thread
import os
import stat
import time

from lazyext._errors import LockTimeout, UnsafeCacheError
from lazyext._store.entries import private_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    import filelock

#: Longest sleep between two tries of a held lock: a waiter notices a release within
#: this (benchmarks/README.md, B6).
POLL_MAX = 0.01
#: The implementation of :func:`key_lock`'s file lock: ``"fcntl"`` (POSIX) or
#: ``"filelock"``; ``LAZYEXT_LOCK_BACKEND=filelock`` picks filelock on POSIX too.
BACKEND = (
    "fcntl"
    if os.name == "posix" and os.environ.get("LAZYEXT_LOCK_BACKEND") != "filelock"
    else "filelock"
)

_guard = _thread.allocate_lock()
_thread_locks: dict[str, _thread.LockType] = {}
#: Descriptors of the fcntl locks this process holds (closed in a forked child).
_held_fds: set[int] = set()


def _reset_after_fork() -> None:
    # A lock held by a thread that does not exist in the child would never be released.
    global _guard, _thread_locks
    _guard = _thread.allocate_lock()
    _thread_locks = {}
    # The child shares the parent's flock through the inherited descriptors: closing
    # them here (not unlocking: that would release the parent's lock) keeps a child
    # that outlives its parent from holding the key forever.
    for descriptor in list(_held_fds):
        try:
            os.close(descriptor)
        except OSError:
            pass
    _held_fds.clear()


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


class key_lock:
    """``with key_lock(root, key, timeout):`` holds ``key`` against other threads and
    processes, or raises :class:`LockTimeout`.

    A class rather than ``@contextmanager``: ``contextlib`` (with the ``collections``
    and ``functools`` it imports) would be most of this module's cost on the cold path.
    """

    __slots__ = ("_local", "_path", "_release", "_timeout")

    def __init__(self, root: str, key: str, timeout: float) -> None:
        self._path = _lock_path(root, key)
        self._timeout = timeout

    def __enter__(self) -> None:
        path, timeout = self._path, self._timeout
        local = _thread_lock(path)
        if not local.acquire(timeout=timeout if timeout >= 0 else -1):
            raise _timeout(path, timeout, "another thread of this process")
        try:
            self._release = (
                _flock(path, timeout) if BACKEND == "fcntl" else _file_lock(path, timeout)
            )
        except BaseException:
            local.release()
            raise
        self._local = local
        _note_holder(path)

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._release()
        finally:
            self._local.release()


class try_key_lock:
    """``with try_key_lock(root, key) as free:`` holds ``key`` if it is free right now
    (for gc, off the import path: filelock)."""

    __slots__ = ("_local", "_path", "_release")

    def __init__(self, root: str, key: str) -> None:
        self._path = _lock_path(root, key)
        self._release: Callable[[], None] | None = None

    def __enter__(self) -> bool:
        path = self._path
        local = _thread_lock(path)
        if not local.acquire(blocking=False):
            return False
        try:
            import filelock

            lock = _make(path)
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:
                local.release()
                return False
            except OSError as error:
                raise _unusable(path, error) from error
        except BaseException:
            if local.locked():
                local.release()
            raise
        self._local, self._release = local, lock.release
        return True

    def __exit__(self, *exc_info: object) -> None:
        if self._release is not None:
            try:
                self._release()
            finally:
                self._local.release()


def _note_holder(path: str) -> None:
    """Record who holds the lock, so that a waiter that times out can name it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(f"{path}.holder", flags, 0o600)
    except OSError:
        return  # informational only
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {time.time():.0f}\n")


def _holder(path: str) -> str:
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


def _flock(path: str, timeout: float) -> Callable[[], None]:
    """``flock`` on ``path``, polled until ``timeout`` (the fcntl implementation);
    returns the function that releases it."""
    import fcntl

    _private_locks_dir(path)
    deadline = None if timeout < 0 else time.monotonic() + timeout
    pause = 0.001
    while True:
        descriptor = _open_lock_file(path)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
        except OSError as error:
            os.close(descriptor)
            raise _no_flock(path, error) from error
        else:
            if _still_at(path, descriptor):
                break
            os.close(descriptor)  # unlinked or replaced meanwhile: lock the file there now
            continue
        if deadline is not None and time.monotonic() >= deadline:
            raise _timeout(path, timeout, _holder(path))
        left = POLL_MAX if deadline is None else max(0.0, deadline - time.monotonic())
        time.sleep(min(pause, POLL_MAX, left))
        pause *= 2
    _held_fds.add(descriptor)
    owner = os.getpid()

    def release() -> None:
        if os.getpid() != owner:  # a forked child neither holds nor releases it
            return
        _held_fds.discard(descriptor)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            os.close(descriptor)

    return release


def _open_lock_file(path: str) -> int:
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags, 0o600)
    except OSError as error:
        raise _unusable(path, error) from error

    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise UnsafeCacheError(
            f"refusing the lock file {path!r}: it is not a regular file; remove it",
            path=str(path),
        )
    return descriptor


def _still_at(path: str, descriptor: int) -> bool:
    """Whether the locked file is still the one at ``path`` (a holder may unlink it)."""
    try:
        there = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    held = os.fstat(descriptor)
    return (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino)


def _no_flock(path: str, error: Exception) -> UnsafeCacheError:
    return UnsafeCacheError(
        f"cannot lock {path!r} ({error}): the cache must be on a local filesystem "
        "that supports flock; set LAZYEXT_CACHE_DIR to one",
        path=os.path.dirname(path),
    )


def _private_locks_dir(path: str) -> None:
    private_dir(os.path.dirname(os.path.dirname(path)), os.path.basename(os.path.dirname(path)))


def _file_lock(path: str, timeout: float) -> Callable[[], None]:
    import filelock  # 35-40 ms: off the cold path (module docstring)

    lock = _make(path)
    try:
        lock.acquire(timeout=timeout, poll_interval=POLL_MAX)
    except filelock.Timeout as error:
        raise _timeout(path, timeout, _holder(path)) from error
    except OSError as error:
        raise _unusable(path, error) from error
    return lock.release


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
    import filelock  # 35-40 ms: off the cold path (module docstring)

    _private_locks_dir(path)
    try:
        return filelock.FileLock(path, mode=0o600, fallback_to_soft=False)
    except (NotImplementedError, OSError) as error:
        raise _no_flock(path, error) from error


def _timeout(path: str, timeout: float, holder: str) -> LockTimeout:
    return LockTimeout(
        f"timed out after {timeout:g} s waiting for the lock {path!r}, held by {holder} "
        "(an install of the same requirement is running); wait for it or raise lock-timeout. "
        "The lock is released when its holder exits, even if it is killed: a lock file "
        "left behind is not held and needs no removal",
        lock_file=path,
        timeout=timeout,
    )
