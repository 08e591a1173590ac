"""Failure memory: a failed install or resolution, remembered in memory and on disk.

In memory, for ``failure-ttl`` seconds: the threads queued on the same import (and
programs that retry an import in a loop) fail fast with the same error instead of
running uv again; ``importlib.invalidate_caches()`` forgets it (:func:`forget_all`).
On disk, ``<cache>/failures/<key>.json``: ``lazyext status`` and ``lazyext doctor``
in other processes say what failed, when, and when it is retried. Both are written
together (:func:`remember`) and cleared together (:func:`clear`), by the store's
get-or-make (:mod:`.flight`) only.

Records are written 0600 without following links and read only when they are this
user's regular files; the message is redacted (no index credentials) and bounded.
"""

from __future__ import annotations

import _thread
import os
import stat
import time

from lazyext._errors import InstallError
from lazyext._settings.secrets import redact

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final

_DIR: Final = "failures"
_LIMIT: Final = 16 * 1024

_lock = _thread.allocate_lock()
_recent: dict[str, tuple[InstallError, float]] = {}  # key -> (error, monotonic deadline)


def _reset_after_fork() -> None:
    global _lock
    _lock = _thread.allocate_lock()  # held by a thread the child does not have
    _recent.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def remember(root: str, key: str, label: str, error: InstallError, ttl: float) -> None:
    """Remember that ``key`` (made for ``label``) failed with ``error``, for ``ttl`` s."""
    if ttl > 0:
        with _lock:
            _recent[key] = (error, time.monotonic() + ttl)
    _write(root, key, label, error, ttl)


def recall(key: str, name: str | None = None) -> InstallError | None:
    """The error to raise again if ``key`` failed moments ago in this process (``name``:
    the import asking now), else ``None``."""
    with _lock:
        found = _recent.get(key)
    if found is None:
        return None
    error, deadline = found
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    return type(error)(
        f"{error.args[0] if error.args else error} (failed moments ago; not retried for "
        f"{remaining:.0f} s; importlib.invalidate_caches() retries now)",
        name=name or error.name,
        spec=error.spec,
        returncode=error.returncode,
        stderr_tail=error.stderr_tail,
        cache_key=error.cache_key,
        transient=error.transient,
        security=error.security,
    )


def clear(root: str, key: str) -> None:
    """Forget ``key``'s failure (it was made, or invalidated): one ``unlink``."""
    with _lock:
        _recent.pop(key, None)
    try:
        os.unlink(_path(root, key))
    except OSError:
        pass


def forget_all() -> None:
    """Forget every failure remembered in this process (the next import retries now)."""
    with _lock:
        _recent.clear()


def _path(root: str, key: str) -> str:
    return os.path.join(root, _DIR, f"{key}.json")


def _write(root: str, key: str, label: str, error: InstallError, ttl: float) -> None:
    """Best effort: a record that cannot be written only costs a report."""
    import json  # a failure's path only: json brings re (~4 ms of a first import)

    now = time.time()
    data = {
        "requirement": label,
        "type": type(error).__name__,
        "message": redact(str(error))[:_LIMIT],
        "at": now,
        "retry_at": now + max(0.0, ttl),
        "pid": os.getpid(),
        "transient": bool(error.transient),
        "returncode": error.returncode,
    }
    directory = os.path.join(root, _DIR)
    temporary = os.path.join(directory, f".{key}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not stat.S_ISDIR(os.lstat(directory).st_mode):
            return
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with open(os.open(temporary, flags, 0o600), "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(temporary, _path(root, key))
    except OSError:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def read(root: str, key: str) -> dict[str, Any] | None:
    """The failure recorded for ``key``, or None (also for anything not trustworthy)."""
    import json  # reports only (status, doctor)

    path = _path(root, key)
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > 4 * _LIMIT:
            return None
        if hasattr(os, "geteuid") and (info.st_uid != os.geteuid() or info.st_mode & 0o022):
            return None
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    fields = {"requirement": str, "type": str, "message": str, "at": float, "retry_at": float}
    if not isinstance(data, dict) or not all(
        isinstance(data.get(name), kind) for name, kind in fields.items()
    ):
        return None
    return data


def describe(found: dict[str, Any], *, now: float | None = None, message: bool = True) -> str:
    """``failed 12 s ago (DistributionNotFound: ...); retried ...``: one line."""
    now = time.time() if now is None else now
    ago = max(0.0, now - found["at"])
    left = found["retry_at"] - now
    first = found["message"].splitlines()[0] if found["message"] else found["type"]
    when = (
        f"the failing process retries in {left:.0f} s, other processes at their next import"
        if left > 0
        else "the next import retries it"
    )
    what = f"{found['type']}: {first}" if message else found["type"]
    return f"failed {ago:.0f} s ago ({what}); {when}"
