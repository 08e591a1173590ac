"""The content-addressed cache on disk: its entries, one per locked distribution.

Layout under the root (created 0700, owned by the current user, never a symlink)::

    compiled.marshal                     compiled configs (lazyext._settings.load)
    envs/<env key>/<platform>/           stored environments (lazyext._env.stored)
    entries/<key>/<platform>/<gen>/      one published install ("generation")
        entry.marshal                    metadata the warm path reads
        entry.json                       the same metadata, for people and tools
        INVALIDATED                      marker: skipped by readers, removed by gc
        target/                          the install's site-packages (imported from)
        data/                            its wheels' other schemes (.schemes)
    staging/<key>.<host>.<pid>.<rand>/   installs in progress (gen dirs in the making)
    locks/<key>.lock                     one cross-process lock per key (.locks)
    failures/<key>.json                  the last failure of a key (.failures)

A generation is created complete in ``staging/`` and renamed into place, so readers
never see half an install; generations are never modified afterwards (an
invalidation is a separate marker), and a refresh publishes a *new* generation, so a
process that imported the old one keeps working until gc removes it after a grace
period.
"""

from __future__ import annotations

import marshal
import os
import sys
import time

from lazyext import _trust
from lazyext._record import record
from lazyext._settings.names import DistKey, canonical_name, hostname

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Final

ENTRY_SCHEMA: Final = 1
_META: Final = "entry.marshal"
_META_JSON: Final = "entry.json"
INVALIDATED: Final = "INVALIDATED"
#: Clock skew: an ``installed_at`` this far in the future is not trusted as fresh.
FUTURE_SLACK: Final = 300.0


@record
class Entry:
    """One published install of a key for one platform."""

    key: DistKey
    platform: str
    requirement: str  # what uv installed: "name==version" or "name @ url"
    path: str  # the generation directory
    installed_at: float
    ttl_seconds: float
    resolved: tuple[tuple[str, str], ...]  # (distribution, version), sorted
    top_level: tuple[str, ...]  # importable top-level names inside target/
    pth: tuple[str, ...]  # .pth files at the top of target/

    @property
    def target(self) -> str:
        return os.path.join(self.path, "target")

    def expired(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        if self.installed_at > now + FUTURE_SLACK:
            return True  # clamp clock skew: never fresh forever
        return self.ttl_seconds > 0 and now - self.installed_at > self.ttl_seconds

    def version_of(self, dist: str) -> str | None:
        wanted = canonical_name(dist)
        for name, version in self.resolved:
            if canonical_name(name) == wanted:
                return version
        return None


def private_dir(root: str, *names: str) -> str:
    """``root/names...`` as directories of this user's own, created 0700 where missing.

    Each component below the (already checked) root is checked with ``lstat``: a
    symlink or a foreign directory planted there would let someone else choose where
    an install is staged, which lock is taken, or what gets published.
    """
    path = root
    for name in names:
        path = os.path.join(path, name)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        _trust.check_private_dir(path, what="cache directory")
    return path


def platform_dir(root: str, key: DistKey, platform: str) -> str:
    return os.path.join(root, "entries", key, platform)


def generation_names(directory: str) -> list[str]:
    """The generation directory names in ``directory``, newest first."""
    try:
        return sorted(
            (name for name in os.listdir(directory) if name.startswith("g")), reverse=True
        )
    except OSError:
        return []


def newest_entry(
    root: str, key: DistKey, platform: str, *, foreign: Callable[[str], bool] | None = None
) -> Entry | None:
    directory = platform_dir(root, key, platform)
    for generation in generation_names(directory):
        entry = read_entry(os.path.join(directory, generation), foreign=foreign)
        if entry is not None:
            return entry
    return None


def read_entry(path: str, *, foreign: Callable[[str], bool] | None = None) -> Entry | None:
    """Read one generation; anything damaged, foreign or invalidated reads as ``None``."""
    try:
        if (foreign or _is_foreign)(path) or os.path.lexists(os.path.join(path, INVALIDATED)):
            return None
        with open(os.path.join(path, _META), "rb") as handle:
            data = marshal.loads(handle.read())  # load(file) reads piecemeal: slower
        entry = entry_from(data, path)
        if not os.path.isdir(entry.target) or os.path.islink(entry.target):
            return None
        platform = os.path.dirname(path)
        if (entry.platform, entry.key) != (
            os.path.basename(platform),
            os.path.basename(os.path.dirname(platform)),
        ):
            return None  # moved here from another key or platform: not what was asked for
        return entry
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        return None


def _is_foreign(path: str) -> bool:
    """A generation (or its key directories) swapped for a symlink or another owner."""
    platform = os.path.dirname(path)
    for candidate in (path, platform, os.path.dirname(platform)):
        info = os.lstat(candidate)
        if os.path.islink(candidate) or (hasattr(os, "geteuid") and info.st_uid != os.geteuid()):
            return True
    return False


def entry_from(data: Any, path: str) -> Entry:
    if not isinstance(data, dict) or data.get("schema") != ENTRY_SCHEMA:
        raise ValueError("unknown metadata schema")
    return Entry(
        key=DistKey(str(data["key"])),
        platform=str(data["platform"]),
        requirement=str(data["requirement"]),
        path=path,
        installed_at=float(data["installed_at"]),
        ttl_seconds=float(data["ttl_seconds"]),
        resolved=tuple((str(n), str(v)) for n, v in data["resolved"]),
        top_level=tuple(str(name) for name in data["top_level"]),
        pth=tuple(str(name) for name in data["pth"]),
    )


def entry_metadata(entry: Entry) -> dict[str, Any]:
    return {
        "schema": ENTRY_SCHEMA,
        "key": entry.key,
        "platform": entry.platform,
        "requirement": entry.requirement,
        "installed_at": entry.installed_at,
        "ttl_seconds": entry.ttl_seconds,
        "resolved": [list(pair) for pair in entry.resolved],
        "top_level": list(entry.top_level),
        "pth": list(entry.pth),
        "python": sys.version.split()[0],
    }


def new_staging(root: str, key: str) -> str:
    staging = private_dir(root, "staging")
    path = os.path.join(staging, f"{key}.{hostname()}.{os.getpid()}.{os.urandom(4).hex()}")
    os.mkdir(path, mode=0o700)
    return path


def write_metadata(staging: str, entry: Entry) -> None:
    """Write both metadata files into a staging generation (not yet visible).

    Not fsynced (nor is the rename in :func:`publish`): uv does not fsync the install
    either, so a power loss can leave any of its files empty whatever lazyext syncs;
    metadata lost that way is a damaged entry, which readers treat as a miss. The
    fsyncs cost the first import 5-100 ms on a busy disk (benchmarks/README.md).
    """
    from lazyext import _jsontext  # installs only: a cached import reads the marshal (B3)

    data = entry_metadata(entry)
    with open(os.path.join(staging, _META), "wb") as handle:
        marshal.dump(data, handle)
    with open(os.path.join(staging, _META_JSON), "w", encoding="utf-8") as handle:
        handle.write(_jsontext.dumps(data) + "\n")


def publish(staging: str, root: str, key: DistKey, platform: str) -> str:
    """Rename a finished staging generation into place and return its final path."""
    directory = private_dir(root, "entries", key, platform)
    generation = os.path.join(directory, next_generation(directory))
    os.rename(staging, generation)
    return generation


def next_generation(directory: str) -> str:
    """The name of a new generation in ``directory``: later than every existing one.

    Readers take the greatest name as the newest, so the name is the clock's time only
    if that sorts after what exists: after the clock stepped back, a refresh still
    publishes the newest generation (called under the key lock: one publisher).
    """
    stamp = time.time_ns()
    for name in os.listdir(directory):
        digits = name[1:21]
        if name.startswith("g") and digits.isdigit():
            stamp = max(stamp, int(digits) + 1)
    return f"g{stamp:020d}.{os.getpid()}"


def invalidate_key(root: str, key: DistKey) -> int:
    """Mark every generation of ``key`` (all platforms) invalid; return how many."""
    try:
        return _invalidate_key(root, key)
    except OSError as error:
        raise cache_write_error("invalidate", root, error) from error


def cache_write_error(doing: str, root: str, error: OSError) -> Exception:
    """``error`` from changing the cache, as a LazyextError that says why and what to do."""
    from lazyext._errors import CacheWriteError, LazyextError  # an error's path only

    if isinstance(error, LazyextError):
        return error
    import errno  # an error's path only

    where = error.filename or root
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = (
            "the cache is read-only to this process; run this as the user who owns it, or "
            "on a writable copy (a read-only cache keeps serving imports as it is)"
        )
    elif error.errno in (errno.ENOSPC, errno.EDQUOT):
        why = "the disk holding the cache is full; free some space and retry"
    else:
        why = "check the cache directory and retry"
    return CacheWriteError(
        f"cannot {doing} in the cache {root!r}: {error.strerror or error} ({where}); {why}",
        path=str(where),
    )


def _invalidate_key(root: str, key: DistKey) -> int:
    try:  # a wheel refused for contradicting its RECORD (.verify) may be tried again
        os.unlink(os.path.join(root, "refused", f"{key}.txt"))
    except FileNotFoundError:
        pass
    count = 0
    base = os.path.join(root, "entries", key)
    try:
        platforms = os.listdir(base)
    except OSError:
        return 0
    for platform in platforms:
        for generation in _generations(os.path.join(base, platform)):
            marker = os.path.join(generation, INVALIDATED)
            if not os.path.lexists(marker):
                with open(marker, "w", encoding="utf-8") as handle:
                    handle.write(f"{time.time()}\n")
                count += 1
    return count


def _generations(directory: str) -> list[str]:
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [os.path.join(directory, name) for name in names if name.startswith("g")]


def iter_generations(root: str) -> list[tuple[str, str, str]]:
    """Every ``(key, platform, generation path)`` under the root, valid or not."""
    found: list[tuple[str, str, str]] = []
    entries = os.path.join(root, "entries")
    try:
        keys = sorted(os.listdir(entries))
    except OSError:
        return []
    for key in keys:
        try:
            platforms = sorted(os.listdir(os.path.join(entries, key)))
        except OSError:
            continue
        for platform in platforms:
            directory = os.path.join(entries, key, platform)
            found.extend((key, platform, g) for g in _generations(directory))
    return found


#: Last use of a generation is its directory's mtime, refreshed at most this often, so
#: recording it costs an import one ``stat`` (and a ``utime`` once a day).
USE_RESOLUTION: Final = 86400.0


def note_use(path: str, root: str) -> None:
    """Record that generation ``path`` is in use (gc evicts long-unused ones).

    Only inside the writable ``root``: a read-only layer is never written to.
    """
    if not path.startswith(root.rstrip(os.sep) + os.sep):
        return
    try:
        if time.time() - os.stat(path).st_mtime > USE_RESOLUTION:
            os.utime(path)
    except OSError:
        pass  # a read-only cache (baked into an image) is used, never aged


def last_used(path: str) -> float:
    """When generation ``path`` was last activated (to within a day), or published."""
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def dir_size(path: str) -> int:
    total = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                pass
    return total
