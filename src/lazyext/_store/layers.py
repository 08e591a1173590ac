"""Finding an entry: in the read-only cache layers (``cache-read``), then the cache.

A layer is a cache root built elsewhere (a container image, a shared volume, an
unpacked archive) that this process reads entries from and never writes to: no
``utime``, no markers, no locks, no staging, no spawn-view links inside it. The
writable ``cache-dir`` stays where new installs, markers and views go.

Trust: the one rule of :mod:`lazyext._trust`, with root allowed to own a layer and
group write accepted with ``trust-group = true`` (a Kubernetes ``fsGroup`` volume),
checked from ``/`` down to the layer root, and down to the ``target`` of each
generation used, at every lookup: a layer that changes owner or mode while in use is
refused at the next lookup. Inside a generation, every file and directory (modules,
``.pth`` files, bytecode, metadata) passes the same rule (:func:`check_entry`): whoever
could write one of them would choose code that ``import`` runs. That walk is made once
per generation per process and remembered by the identity and ``ctime`` of the
generation and its ``target`` (an entry replaced, moved or re-moded at its top is
walked again); a mode changed deep inside after the walk is seen by the next process
and by ``lazyext verify``. It costs ~1 us per file, once (docs/many-machines.md).
"""

from __future__ import annotations

import os
from stat import S_ISDIR, S_ISREG

from lazyext import _trust
from lazyext._settings.config import Settings
from lazyext._settings.names import DistKey
from lazyext._store.entries import Entry, generation_names, newest_entry, platform_dir, read_entry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Final

WHAT: Final = "read-only cache layer"
_missing_reported: set[str] = set()


def find_entry(
    root: str, key: DistKey, platform: str, settings: Settings | None = None
) -> Entry | None:
    """The newest valid generation of ``key`` for ``platform``, or ``None``.

    The read-only layers of ``settings`` are searched first: the first layer that has
    the key serves it, unless the writable ``root`` holds a newer generation (a refresh
    or reinstall after an invalidation).
    """
    best = newest_entry(root, key, platform)
    if settings is None:
        return best
    for layer in settings.cache_read:
        found = find(layer, key, platform, trust_group=settings.trust_group)
        if found is not None:
            return best if best is not None and best.installed_at > found.installed_at else found
    return best


def check_layer(layer: str, *, trust_group: bool) -> bool:
    """Check ``layer`` and its parents by the trust rule; ``False`` if it does not exist.

    Raises :class:`UnsafeCacheError` naming the directory, the rule that failed and
    the fix.
    """
    if not os.path.lexists(layer):
        if layer not in _missing_reported:
            _missing_reported.add(layer)
            from lazyext import _log  # a missing layer only: one module (~0.1 ms) off B3

            _log.warning("the read-only cache layer %s does not exist; skipped", layer)
        return False
    _trust.check_dir(layer, what=WHAT, root_owned_ok=True, trust_group=trust_group)
    return True


def find(layer: str, key: DistKey, platform: str, *, trust_group: bool) -> Entry | None:
    """The newest valid generation of ``key`` in ``layer``, every directory from ``/``
    down to its ``target`` checked first (an untrusted one raises, it is never skipped)."""
    if not check_layer(layer, trust_group=trust_group):
        return None
    directory = platform_dir(layer, key, platform)
    for generation in generation_names(directory):
        path = os.path.join(directory, generation)
        target = os.path.join(path, "target")
        try:
            _trust.check_dir(
                target if os.path.lexists(target) else path,
                what=WHAT,
                root_owned_ok=True,
                trust_group=trust_group,
            )
        except FileNotFoundError:
            continue
        entry = read_entry(path, foreign=_checked_above)
        if entry is not None:
            check_entry(path, trust_group=trust_group)
            return entry
    return None


#: Generations of layers whose every file and directory passed the trust rule in this
#: process -> what identified them then (:func:`_identity`).
_walked: dict[str, tuple[int, ...]] = {}


def check_entry(path: str, *, trust_group: bool) -> None:
    """Every file and directory inside generation ``path`` of a layer passes the trust
    rule (owned by you or root, writable by nobody else, no links or devices); raises
    :class:`UnsafeCacheError` naming the first that does not. Walked once per process
    while the generation's identity is unchanged."""
    identity = _identity(path)
    if _walked.get(path) == identity:
        return
    owners = (_trust.user(), 0)
    pending = [path]
    while pending:  # one lstat per item, links never followed (~5 us each, measured)
        with os.scandir(pending.pop()) as listing:
            for item in listing:
                info = item.stat(follow_symlinks=False)
                mode = info.st_mode
                if S_ISDIR(mode):
                    pending.append(item.path)
                # A filter at least as strict as the rule, which (with its message)
                # runs only for what the filter stops.
                if (
                    mode & 0o022
                    or info.st_uid not in owners
                    or not (S_ISDIR(mode) or S_ISREG(mode))
                ):
                    _trust.check_item(item.path, info, what=WHAT, where=path, group=trust_group)
    _walked[path] = identity


def problems(path: str, *, trust_group: bool) -> list[str]:
    """What :func:`check_entry` refuses in generation ``path``, every item (for
    ``lazyext verify``; never remembered)."""
    found = []
    for item, info in _tree(path):
        try:
            _trust.check_item(item, info, what=WHAT, where=path, group=trust_group)
        except PermissionError as error:  # UnsafeCacheError
            found.append(str(error))
    return found


def layer_of(path: str, settings: Settings) -> str | None:
    """The configured layer ``path`` (a generation) lies in, or ``None``."""
    for layer in settings.cache_read:
        if path.startswith(layer.rstrip(os.sep) + os.sep):
            return layer
    return None


def _identity(path: str) -> tuple[int, ...]:
    """Inode and ctime of a generation and of its ``target``: a chmod, chown, rename or
    replacement of either changes it."""
    found: tuple[int, ...] = ()
    for name in (path, os.path.join(path, "target")):
        try:
            info = os.lstat(name)
        except OSError:
            return ()
        found += (info.st_dev, info.st_ino, info.st_ctime_ns)
    return found


def _tree(path: str) -> Iterator[tuple[str, os.stat_result]]:
    """Every file and directory below ``path`` with its ``lstat``, links not followed."""
    pending = [path]
    while pending:
        with os.scandir(pending.pop()) as listing:
            for item in listing:
                info = item.stat(follow_symlinks=False)
                yield item.path, info
                if S_ISDIR(info.st_mode):
                    pending.append(item.path)


def _checked_above(path: str) -> bool:
    return False
