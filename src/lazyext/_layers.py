"""Read-only cache layers (``cache-read``): trusted, searched, never written.

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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lazyext._cache import Entry

_WHAT = "read-only cache layer"
_missing_reported: set[str] = set()


def check_layer(layer: str, *, trust_group: bool) -> bool:
    """Check ``layer`` and its parents by the trust rule; ``False`` if it does not exist.

    Raises :class:`UnsafeCacheError` naming the directory, the rule that failed and
    the fix.
    """
    from lazyext import _trust

    if not os.path.lexists(layer):
        if layer not in _missing_reported:
            _missing_reported.add(layer)
            from lazyext import _log

            _log.warning("the read-only cache layer %s does not exist; skipped", layer)
        return False
    _trust.check_dir(layer, what=_WHAT, root_owned_ok=True, trust_group=trust_group)
    return True


def find(layer: str, key: str, platform: str, *, trust_group: bool) -> Entry | None:
    """The newest valid generation of ``key`` in ``layer``, every directory from ``/``
    down to its ``target`` checked first (an untrusted one raises, it is never skipped)."""
    from lazyext import _cache, _trust

    if not check_layer(layer, trust_group=trust_group):
        return None
    directory = _cache.platform_dir(layer, key, platform)
    for generation in _cache.generation_names(directory):
        path = os.path.join(directory, generation)
        target = os.path.join(path, "target")
        try:
            _trust.check_dir(
                target if os.path.lexists(target) else path,
                what=_WHAT,
                root_owned_ok=True,
                trust_group=trust_group,
            )
        except FileNotFoundError:
            continue
        entry = _cache.read_entry(path, foreign=_checked_above)
        if entry is not None:
            return entry
    return None


def _checked_above(path: str) -> bool:
    return False
