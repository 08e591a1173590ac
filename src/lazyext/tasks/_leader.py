"""One runner per data directory: a leader elected by a non-blocking file lock.

Every task manager on a data directory tries to take ``tasks.leader.lock`` without
waiting; the one that holds it runs the stored tasks (the maintenance tasks among
them), the others try again every election interval. The lock is an ``flock``, so
the kernel releases it when the leader's process ends in any way, even SIGKILL, and
the next attempt of another manager takes over. APScheduler's own answer, a shared
job store, does not work across processes (its FAQ says so).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from lazyext._errors import UnsafeCacheError

if TYPE_CHECKING:
    import filelock

logger = logging.getLogger("lazyext.tasks")

LOCK_NAME: Final = "tasks.leader.lock"
INFO_NAME: Final = "tasks.leader.json"


class Leadership:
    """The leader lock of one data directory, held by this manager or not."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock: filelock.BaseFileLock | None = None

    @property
    def held(self) -> bool:
        return self._lock is not None

    def try_acquire(self) -> bool:
        """Become the leader if nobody is; True if this manager leads now."""
        if self._lock is not None:
            return True
        import filelock

        try:
            # thread_local=False: taken on the election thread, released on another.
            lock = filelock.FileLock(
                self.directory / LOCK_NAME, mode=0o600, thread_local=False, fallback_to_soft=False
            )
            lock.acquire(timeout=0)
        except filelock.Timeout:
            return False
        except (NotImplementedError, OSError) as error:
            raise UnsafeCacheError(
                f"cannot lock {str(self.directory / LOCK_NAME)!r} ({error}): the data "
                "directory must be on a local filesystem that supports flock; set "
                "LAZYEXT_DATA_DIR to one",
                path=str(self.directory),
            ) from error
        self._lock = lock
        self._write_info()
        logger.info("this process (pid %d) now runs the stored tasks", os.getpid())
        return True

    def release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is None:
            return
        try:
            (self.directory / INFO_NAME).unlink(missing_ok=True)
        finally:
            lock.release()

    def _write_info(self) -> None:
        from lazyext._settings.names import hostname

        info = {"pid": os.getpid(), "host": hostname()}
        temporary = self.directory / f"{INFO_NAME}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps(info), encoding="utf-8")
        os.replace(temporary, self.directory / INFO_NAME)


def current_leader(directory: Path) -> dict[str, Any] | None:
    """Who leads, if anyone: ``{"pid", "host"}`` while a leader's lock is held."""
    import filelock

    probe = filelock.FileLock(
        directory / LOCK_NAME, mode=0o600, thread_local=False, fallback_to_soft=False
    )
    try:
        probe.acquire(timeout=0)
    except filelock.Timeout:
        try:
            info: dict[str, Any] = json.loads((directory / INFO_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"pid": None, "host": None}
        return info
    probe.release()
    return None
