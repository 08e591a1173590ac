"""Finding an entry: in the read-only cache layers (``cache-read``), then the cache.

A layer is a cache root built elsewhere (a container image, a shared volume, an
unpacked archive) that this process reads entries from and never writes to: no
``utime``, no markers, no locks, no staging, no spawn-view links inside it. The
writable ``cache-dir`` stays where new installs, markers and views go.

Trust: the one rule of :mod:`lazyext._trust`, with root allowed to own a layer and
group write accepted with ``trust-group = true`` (a Kubernetes ``fsGroup`` volume),
checked from ``/`` down to the layer root, and down to the ``target`` of each
generation used. It is checked at every lookup, so a layer that changes owner or mode
while in use is refused at the next lookup.
"""

from __future__ import annotations

import os

from lazyext import _log, _trust
from lazyext._settings.config import Settings
from lazyext._settings.names import DistKey
from lazyext._store.entries import Entry, generation_names, newest_entry, platform_dir, read_entry

TYPE_CHECKING = False
if TYPE_CHECKING:
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
            return entry
    return None


def _checked_above(path: str) -> bool:
    return False
