"""The cache's collection, and its opportunistic run after an install.

:func:`collect` is ``lazyext gc`` and the ``lazyext.gc`` task: :mod:`lazyext._store.gc`
with the keys the stored environments still name and the ``[maintenance]`` defaults.

Without a scheduler, old installs would pile up, so a process that has just installed
something collects the cache too (:func:`after_install`): when it exits, at most once
per ``gc-every`` per cache (the ``gc.last`` stamp, which every collection renews), and
never a process that only imported from the cache: the warm path does not come here.
It takes what gc takes: never a generation a live process holds (its lease) or one
still in its grace period. ``[maintenance] enabled = false`` or ``gc-every = 0`` turns
it off. At exit rather than in a thread: a short program's thread would be cut off
mid-removal, and the first import's path loads none of gc's modules (logging, shutil,
filelock: tests/env/test_cold_path.py).
"""

from __future__ import annotations

import atexit
import os
import time

from lazyext import _log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lazyext._settings.config import Config
    from lazyext._store.gc import GcReport

STAMP = "gc.last"  # in the cache root; its mtime is when the last collection started

_pending: tuple[str, Config, int] | None = None  # the last install's cache, config, pid
_registered = False


def after_install(root: str, config: Config) -> None:
    """Collect ``root`` when this process exits, if due (the last cache installed into)."""
    global _pending, _registered
    _pending = (root, config, os.getpid())
    if not _registered:
        _registered = True
        atexit.register(_at_exit)


def _at_exit() -> None:
    pending = _pending
    if pending is None or pending[2] != os.getpid():  # a fork child inherited the hook
        return
    try:
        collect_if_due(pending[0], pending[1])
    except Exception as error:  # never a traceback at a program's exit
        _log.debug("opportunistic gc of %s skipped: %r", pending[0], error)


def collect_if_due(root: str, config: Config, now: float | None = None) -> GcReport | None:
    """Collect ``root`` unless the last collection is younger than ``gc-every``."""
    from lazyext._settings.maintenance import settings_of  # re: only when due to decide

    settings = settings_of(config)
    if not settings.enabled or settings.gc_every <= 0:
        return None
    now = time.time() if now is None else now
    try:
        since = now - os.stat(os.path.join(root, STAMP)).st_mtime
    except OSError:
        since = float("inf")  # never collected
    if 0 <= since < settings.gc_every:  # (a stamp from the future: the clock stepped back)
        return None
    return collect(config, now=now)


def collect(
    config: Config,
    *,
    grace: float | None = None,
    unused_days: float | None = None,
    max_bytes: int | None = None,
    now: float | None = None,
) -> GcReport:
    """Collect the config's cache, with the ``[maintenance]`` defaults for what is not
    given; renews the stamp first, so that processes exiting together collect once."""
    # logging, shutil and filelock (~45 ms): never on an import's path, see above.
    from lazyext import _trust
    from lazyext._env.stored import referenced_keys
    from lazyext._settings.maintenance import settings_of
    from lazyext._store import gc

    settings = settings_of(config)
    root = _trust.ensure_root(config.settings.cache_dir)
    _stamp(root, time.time() if now is None else now)
    return gc.collect(
        root,
        referenced=referenced_keys(root),
        grace_seconds=settings.gc_grace if grace is None else grace,
        now=now,
        unused_days=settings.unused_days if unused_days is None else unused_days,
        max_bytes=settings.max_size if max_bytes is None else max_bytes,
    )


def _stamp(root: str, now: float) -> None:
    path = os.path.join(root, STAMP)
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        os.close(os.open(path, flags, 0o600))
        os.utime(path, (now, now))
    except OSError:  # a read-only cache: gc says so itself
        pass
