"""Per-process guards on the import path: re-entrancy and recently failed installs.

Kept apart from :mod:`lazyext._provision` so the finder can consult them without
importing the install machinery. Both are reset in a forked child: a lock or a
thread-local held by a thread that does not exist there would never be released.
"""

from __future__ import annotations

import _thread
import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lazyext._errors import InstallError

_local = _thread._local()
_failures_lock = _thread.allocate_lock()
_failures: dict[str, tuple[InstallError, float]] = {}


def busy() -> bool:
    """True while this thread is provisioning (its own imports must not recurse)."""
    return bool(getattr(_local, "depth", 0))


def enter() -> None:
    _local.depth = getattr(_local, "depth", 0) + 1


def leave() -> None:
    _local.depth = getattr(_local, "depth", 1) - 1


def remember_failure(key: str, error: InstallError, seconds: float) -> None:
    if seconds > 0:
        with _failures_lock:
            _failures[key] = (error, time.monotonic() + seconds)


def recent_failure(key: str) -> tuple[InstallError, float] | None:
    """The failure recorded for ``key`` and the seconds it is still remembered."""
    with _failures_lock:
        found = _failures.get(key)
    if found is None:
        return None
    remaining = found[1] - time.monotonic()
    return (found[0], remaining) if remaining > 0 else None


def forget_failures() -> None:
    with _failures_lock:
        _failures.clear()


def _reset_after_fork() -> None:
    global _local, _failures_lock
    _local = _thread._local()
    _failures_lock = _thread.allocate_lock()
    _failures.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
