"""Get-or-make: the one way anything enters the cache, for every kind of key.

An environment, the distributions of a closure, ``warm``'s combined install and an
unpacked archive are all made the same way::

    find                       -> found: it (no lock, no uv)
    failed moments ago         -> that failure again (failure memory, .failures)
    lock every key, sorted     -> two makers of overlapping sets wait, never deadlock
    find again                 -> another thread or process made it meanwhile: it
    failed moments ago         -> that failure again (recorded by the one just done)
    make(staging)              -> stage, verify, publish (the caller's make)
    failure                    -> remembered in memory and on disk, then raised
    success                    -> the failure record cleared
    always                     -> staging removed, keys unlocked

While a thread is inside, :func:`lazyext._store.guard.busy` is true: lazyext's own
imports in that thread (uv's wrapper, a ``.pth`` line) never come back to its finder.
"""

from __future__ import annotations

import os

from lazyext._errors import InstallError, LazyextError
from lazyext._store import failures, guard
from lazyext._store.entries import new_staging
from lazyext._store.locks import key_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import TypeVar

    T = TypeVar("T")


def get_or_make(
    root: str,
    keys: Iterable[str],
    find: Callable[[], T | None],
    make: Callable[[str], T],
    *,
    failure_key: str,
    label: str,
    doing: str,
    name: str | None = None,
    lock_timeout: float,
    failure_ttl: float,
    recheck: Callable[[], T | None] | None = None,
    skip_find: bool = False,
) -> T:
    """What ``find`` returns, or what ``make`` makes under the locks of ``keys``.

    ``make(staging)`` gets a fresh private directory in the cache's ``staging/`` that
    is removed afterwards, whatever happens (what it publishes it renames out first).
    ``failure_key`` names the failure memory consulted and written ("for whom": an
    extension, an environment); ``label`` says what it is in failure records and
    ``doing`` what was done in an error of the cache itself ("installing pyyaml>=6");
    ``name`` is the import that needs it. ``recheck`` replaces ``find`` under the locks, and
    ``skip_find`` skips the first look (a refresh makes anew unless another maker did).
    """
    keys = sorted(set(keys))
    found = None if skip_find else find()
    if found is not None:
        return found
    _raise_if_recalled(failure_key, name)
    guard.enter()
    held: list[key_lock] = []
    try:
        for key in keys:
            lock = key_lock(root, key, lock_timeout)
            lock.__enter__()
            held.append(lock)
        found = (recheck or find)()
        if found is not None:
            return found
        _raise_if_recalled(failure_key, name)
        return _make(root, make, failure_key, label, name, failure_ttl, keys[0] if keys else "")
    except OSError as error:
        if isinstance(error, LazyextError):
            raise
        raise cache_failure(root, doing, error) from error
    finally:
        for lock in reversed(held):
            lock.__exit__(None, None, None)
        guard.leave()


def _make(
    root: str,
    make: Callable[[str], T],
    failure_key: str,
    label: str,
    name: str | None,
    ttl: float,
    first_key: str,
) -> T:
    staging = new_staging(root, first_key or failure_key)
    try:
        result = make(staging)
    except InstallError as error:
        if error.name is None:
            error.name = name
        # Remembered before the locks are released, for the threads queued on them.
        failures.remember(root, failure_key, label, error, ttl)
        raise
    finally:
        remove_tree(staging)
    failures.clear(root, failure_key)
    return result


def remove_tree(path: str) -> None:
    """``shutil.rmtree(path, ignore_errors=True)`` with ``os`` alone: shutil brings
    fnmatch and re (~4 ms), and every first import of an extension cleans a staging
    directory up."""
    for base, directories, files in os.walk(path, topdown=False):
        for name in files:
            try:
                os.unlink(os.path.join(base, name))
            except OSError:
                pass
        for name in directories:
            link = os.path.join(base, name)
            try:
                os.unlink(link) if os.path.islink(link) else os.rmdir(link)
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def _raise_if_recalled(failure_key: str, name: str | None) -> None:
    recalled = failures.recall(failure_key, name)
    if recalled is not None:
        raise recalled


def cache_failure(root: str, what: str, error: OSError) -> InstallError:
    """An ``OSError`` of the cache's own directories as the error an import raises."""
    return InstallError(
        f"{what} failed: writing to the cache directory {root!r} failed ({error}); it must "
        "be writable by this process and have free space (or set LAZYEXT_CACHE_DIR / "
        "cache-dir to another directory)",
    )
