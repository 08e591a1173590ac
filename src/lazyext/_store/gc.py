"""Garbage collection of the cache.

Removes what no reader will use: staging directories of dead or long-gone installs,
invalidated generations, generations superseded by a newer one, damaged generations,
and spawn views of dead processes. Generations that a live process may still import
from are kept for a grace period after they stopped being current, and for as long as
a live process on this host links them from its spawn view (its lease); a key whose
lock is held (an install in progress) is skipped entirely.

Optionally it also evicts generations not used for ``unused_days`` (last use is the
generation directory's mtime, refreshed at most daily by :func:`.entries.note_use`) and,
to fit a size budget of ``max_bytes``, the least recently used generations first.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field

from lazyext._settings.names import hostname
from lazyext._store import entries, leases
from lazyext._store.locks import try_key_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection

logger = logging.getLogger("lazyext")


@dataclass(slots=True)
class GcReport:
    removed: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    skipped_locked: list[str] = field(default_factory=list)
    skipped_in_use: list[str] = field(default_factory=list)
    kept_bytes: int | None = None  # measured only when a size budget is given

    def as_dict(self) -> dict[str, object]:
        return {
            "removed": self.removed,
            "freed_bytes": self.freed_bytes,
            "skipped_locked": self.skipped_locked,
            "skipped_in_use": self.skipped_in_use,
            "kept_bytes": self.kept_bytes,
        }


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_gone(name: str) -> bool:
    """``[<key>.]<host>.<pid>.<rand>``: True if that process is dead on this host."""
    parts = name.rsplit(".", 2)
    host = hostname()
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    if parts[0] != host and not parts[0].endswith("." + host):
        return False
    return not pid_alive(int(parts[1]))


def _age(path: str, now: float) -> float:
    try:
        return _elapsed(os.lstat(path).st_mtime, now)
    except OSError:
        return 0.0


def _elapsed(since: float, now: float) -> float:
    """Seconds from ``since`` to ``now``; a time in the future (the clock stepped back,
    or it was ahead) counts as long ago: waiting for the clock to get there could take
    forever, and the processes still using an install hold its lease (.leases)."""
    elapsed = now - since
    return float("inf") if elapsed < -entries.FUTURE_SLACK else max(elapsed, 0.0)


def collect(
    root: str,
    *,
    referenced: Collection[str],
    grace_seconds: float = 3600.0,
    now: float | None = None,
    unused_days: float | None = None,
    max_bytes: int | None = None,
) -> GcReport:
    """Collect the cache at ``root``; ``unused_days``/``max_bytes`` enable eviction.

    ``referenced``: the keys of the distributions that some stored environment names
    (:func:`lazyext._env.stored.referenced_keys`); the others go after the grace period.
    """
    try:
        return _collect(
            root,
            referenced,
            grace_seconds,
            time.time() if now is None else now,
            unused_days,
            max_bytes,
        )
    except OSError as error:  # a read-only cache: say so, never a traceback
        raise entries.cache_write_error("collect garbage", root, error) from error


def _collect(
    root: str,
    referenced: Collection[str],
    grace_seconds: float,
    now: float,
    unused_days: float | None,
    max_bytes: int | None,
) -> GcReport:
    report = GcReport()
    _collect_staging(root, grace_seconds, now, report)
    _collect_views(root, report)
    leased = _leased(root)
    by_key: dict[str, list[tuple[str, str]]] = {}
    for key, platform, generation in entries.iter_generations(root):
        by_key.setdefault(key, []).append((platform, generation))
    for key, generations in by_key.items():
        with try_key_lock(root, key) as locked:
            if not locked:
                report.skipped_locked.append(key)
                continue
            if key not in referenced:
                _collect_unreferenced(generations, grace_seconds, now, report, leased)
                continue
            _collect_key(generations, grace_seconds, now, report, leased)
            if unused_days is not None and unused_days > 0:
                _collect_unused(generations, now, unused_days * 86400.0, report, leased)
    if max_bytes is not None and max_bytes > 0:
        _fit_budget(root, max_bytes, report, leased)
    return report


def _collect_unreferenced(
    generations: list[tuple[str, str]], grace: float, now: float, report: GcReport, leased: set[str]
) -> None:
    """A distribution no stored environment names any more (its environment was refreshed
    to another version, or resolved before lazyext kept environments): removed after the
    grace period, unless a live process uses it."""
    for _platform, generation in generations:
        entry = entries.read_entry(generation)
        recent = max(
            entry.installed_at if entry is not None else 0.0, entries.last_used(generation)
        )
        # Dated in the future (installed with the clock ahead): old enough, or it would
        # be kept until the clock catches up.
        if not os.path.isdir(generation) or 0 <= now - recent < grace:
            continue
        if generation in leased:
            report.skipped_in_use.append(generation)
        else:
            _remove(generation, report, "no environment uses it")


def _leased(root: str) -> set[str]:
    """Generations linked from the spawn view of a live process (or of another host)."""
    views = os.path.join(root, "views")
    found: set[str] = set()
    try:
        names = os.listdir(views)
    except OSError:
        return found
    for name in names:
        if _owner_gone(name):
            continue
        view = os.path.join(views, name)
        try:
            links = os.listdir(view)
        except OSError:
            continue
        for link in links:
            try:
                item = os.readlink(os.path.join(view, link))
            except OSError:
                continue
            # <generation>/target/<item>
            found.add(os.path.dirname(os.path.dirname(item)))
    return found


def _in_use(generation: str, leased: set[str]) -> bool:
    """Linked from a live process's spawn view, or leased by one (:mod:`.leases`)."""
    return generation in leased or leases.leased(generation)


def _collect_unused(
    generations: list[tuple[str, str]],
    now: float,
    unused_seconds: float,
    report: GcReport,
    leased: set[str],
) -> None:
    for _platform, generation in generations:
        if not os.path.isdir(generation):
            continue
        if _elapsed(entries.last_used(generation), now) < unused_seconds:
            continue
        if _in_use(generation, leased):
            report.skipped_in_use.append(generation)
        else:
            _remove(generation, report, "unused")


def _fit_budget(root: str, max_bytes: int, report: GcReport, leased: set[str]) -> None:
    """Evict least recently used generations until the cache fits ``max_bytes``."""
    sized = [
        (entries.last_used(generation), key, generation, entries.dir_size(generation))
        for key, _platform, generation in entries.iter_generations(root)
    ]
    total = sum(size for *_rest, size in sized)
    for _used, key, generation, size in sorted(sized):
        if total <= max_bytes:
            break
        if _in_use(generation, leased):
            report.skipped_in_use.append(generation)
            continue
        with try_key_lock(root, key) as locked:
            if not locked:
                report.skipped_locked.append(key)
                continue
            _remove(generation, report, f"over the size budget of {max_bytes} bytes")
            if not os.path.lexists(generation):
                total -= size
    report.kept_bytes = total


def _remove(path: str, report: GcReport, why: str) -> None:
    size = entries.dir_size(path)
    shutil.rmtree(path, ignore_errors=True)
    if not os.path.lexists(path):
        report.removed.append(path)
        report.freed_bytes += size
        logger.info("gc: removed %s (%s)", path, why)


def _collect_staging(root: str, grace: float, now: float, report: GcReport) -> None:
    staging = os.path.join(root, "staging")
    try:
        names = os.listdir(staging)
    except OSError:
        return
    for name in names:
        path = os.path.join(staging, name)
        key = name.split(".", 1)[0]
        if not (_owner_gone(name) or _age(path, now) > max(grace, 3600.0)):
            continue
        with try_key_lock(root, key) as locked:
            if locked:
                _remove(path, report, "unfinished install")
            else:
                report.skipped_locked.append(key)


def _collect_key(
    generations: list[tuple[str, str]],
    grace: float,
    now: float,
    report: GcReport,
    leased: set[str],
) -> None:
    newest_valid: dict[str, float] = {}
    for platform, generation in sorted(generations, key=lambda item: item[1], reverse=True):
        marker = os.path.join(generation, entries.INVALIDATED)
        if os.path.lexists(marker):
            if _age(marker, now) < grace:
                pass
            elif _in_use(generation, leased):
                report.skipped_in_use.append(generation)
            else:
                _remove(generation, report, "invalidated")
            continue
        entry = entries.read_entry(generation)
        if entry is None:
            if _in_use(generation, leased):
                report.skipped_in_use.append(generation)
            else:
                _remove(generation, report, "damaged or unreadable metadata")
            continue
        superseded_at = newest_valid.get(platform)
        if superseded_at is None:
            newest_valid[platform] = entry.installed_at
        elif _elapsed(superseded_at, now) < grace:
            pass
        elif _in_use(generation, leased):
            report.skipped_in_use.append(generation)
        else:
            _remove(generation, report, "superseded by a newer install")


def _collect_views(root: str, report: GcReport) -> None:
    views = os.path.join(root, "views")
    try:
        names = os.listdir(views)
    except OSError:
        return
    for name in names:
        if _owner_gone(name):
            _remove(os.path.join(views, name), report, "view of a dead process")
