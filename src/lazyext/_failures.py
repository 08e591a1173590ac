"""Failed installs, remembered in the cache so that other processes can report them.

A process that fails to install a key remembers the failure in memory for
``failure-ttl`` seconds (:mod:`lazyext._guards`: threads and import loops fail fast)
and writes a small record here, ``<cache>/failures/<key>.json``, so that ``lazyext
status`` and ``lazyext doctor`` can say what failed, when, and when it is retried.
A successful install or ``invalidate`` removes the record. Records are written 0600
without following links and read only when they are this user's regular files; the
message is redacted (no index credentials) and bounded.
"""

from __future__ import annotations

import os
import stat
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lazyext._errors import InstallError

_DIR = "failures"
_LIMIT = 16 * 1024


def _path(root: str, key: str) -> str:
    return os.path.join(root, _DIR, f"{key}.json")


def record(root: str, key: str, requirement: str, error: InstallError, ttl: float) -> None:
    """Best effort: a record that cannot be written only costs a report."""
    import json

    from lazyext._secrets import redact

    now = time.time()
    data = {
        "requirement": requirement,
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
    import json

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


def clear(root: str, key: str) -> None:
    """Forget the record of ``key`` (one ``unlink``: on every successful install)."""
    try:
        os.unlink(_path(root, key))
    except OSError:
        pass


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
