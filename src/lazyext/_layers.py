"""Read-only cache layers (``cache-read``): trusted, searched, never written.

A layer is a cache root built elsewhere (a container image, a shared volume, an
unpacked archive) that this process reads entries from and never writes to: no
``utime``, no markers, no locks, no staging, no spawn-view links inside it. The
writable ``cache-dir`` stays where new installs, markers and views go.

Trust rule for a layer (the same as for the cache, except that root may own it):
every directory from ``/`` down to the layer root, and down to each generation that
is used, is owned by root or by the current user and is writable by nobody else.
Group write is accepted only with ``trust-group = true`` (a Kubernetes ``fsGroup``
volume); a world-writable ancestor is accepted only with the sticky bit (``/tmp``)
and only above the layer root. The rule is checked at every lookup, so a layer that
changes owner or mode while in use is refused at the next lookup.
"""

from __future__ import annotations

import os

from lazyext._errors import UnsafeCacheError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lazyext._cache import Entry

_S_ISVTX = 0o1000
_missing_reported: set[str] = set()


def problem(
    path: str, info: os.stat_result, *, trust_group: bool, ancestor: bool = False
) -> str | None:
    """What is wrong with directory ``path`` (its ``lstat``) as part of a layer."""
    import stat

    if stat.S_ISLNK(info.st_mode):
        return "is a symlink (layers are read without following links below their root)"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory"
    if not hasattr(os, "geteuid"):
        return None
    euid = os.geteuid()
    if info.st_uid not in (0, euid):
        return (
            f"is owned by uid {info.st_uid}, which is neither root nor you (uid {euid}); "
            "someone else could change the code you import. Fix the mount: build the "
            f"layer as root or as uid {euid} (chown -R root {path})"
        )
    mode = info.st_mode & 0o7777
    sticky = ancestor and info.st_uid == 0 and mode & _S_ISVTX
    if mode & 0o002 and not sticky:
        return (
            f"is writable by others (mode {mode & 0o777:o}). Fix the mount: mount it "
            f"read-only, or run: chmod o-w {path}"
        )
    if mode & 0o020 and not trust_group and not sticky:
        return (
            f"is writable by its group (gid {info.st_gid}, mode {mode & 0o777:o}). Fix the "
            f"mount: mount it read-only or run: chmod g-w {path}; or, if every member of "
            "that group may choose code you run (a Kubernetes fsGroup volume), set "
            "trust-group = true"
        )
    return None


def check_layer(layer: str, *, trust_group: bool) -> bool:
    """Check ``layer`` and its ancestors; ``False`` if it does not exist (yet).

    The rule is :mod:`lazyext._trust`'s, with root allowed as the owner (and group
    write with ``trust_group``). Raises :class:`UnsafeCacheError` naming the directory
    and the rule that failed.
    """
    from lazyext import _trust

    try:
        _trust.check_dir(
            layer,
            what="read-only cache layer (cache-read)",
            root_owned_ok=True,
            trust_group=trust_group,
        )
    except FileNotFoundError:
        if layer not in _missing_reported:
            _missing_reported.add(layer)
            from lazyext import _log

            _log.warning("the read-only cache layer %s does not exist; skipped", layer)
        return False
    return True


def _refuse(
    layer: str, path: str, info: os.stat_result, *, trust_group: bool, ancestor: bool = False
) -> None:
    found = problem(path, info, trust_group=trust_group, ancestor=ancestor)
    if found is not None:
        where = "it" if path == layer else path
        raise UnsafeCacheError(
            f"refusing the read-only cache layer {layer!r} (cache-read): {where} {found}",
            path=path,
        )


def find(layer: str, key: str, platform: str, *, trust_group: bool) -> Entry | None:
    """The newest valid generation of ``key`` in ``layer``, every directory on the way
    down from ``/`` checked first (an untrusted one raises, it is never skipped)."""
    from lazyext import _cache

    if not check_layer(layer, trust_group=trust_group):
        return None
    path = layer
    for name in ("entries", key, platform):
        path = os.path.join(path, name)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return None
        _refuse(layer, path, info, trust_group=trust_group)
    for generation in _cache.generation_names(path):
        for directory in (os.path.join(path, generation), os.path.join(path, generation, "target")):
            try:
                info = os.lstat(directory)
            except FileNotFoundError:
                continue
            _refuse(layer, directory, info, trust_group=trust_group)
    return _cache.newest_entry(layer, key, platform, foreign=_checked_above)


def _checked_above(path: str) -> bool:
    return False


def in_layer(path: str, layers: tuple[str, ...]) -> bool:
    return any(path.startswith(layer.rstrip(os.sep) + os.sep) for layer in layers)
