"""Install the missing distributions of a closure, each published as its own entry.

Called with the pinned distributions a closure needs (the environment's locked ones)::

    each one published & valid       -> their entries
    the missing ones                 -> get-or-make (.flight) under their keys:
                                        uv into one staging prefix (locked versions,
                                        hashes, no deps) -> schemes laid out -> split
                                        per distribution by RECORD -> verify each ->
                                        metadata -> atomic rename of each into place

The store knows nothing of environments: a pin is anything with the fields of
:class:`Pin`.
"""

from __future__ import annotations

import os
import sys
import time

from lazyext import _log
from lazyext._errors import InstallError
from lazyext._record import replace
from lazyext._settings.config import Settings
from lazyext._settings.names import NOT_IMPORTABLE, DistKey, DistName, canonical_name
from lazyext._store import flight, schemes, verify
from lazyext._store.entries import (
    Entry,
    publish,
    read_entry,
    write_metadata,
)
from lazyext._store.layers import find_entry
from lazyext._store.recordfile import DATA_PREFIX, located, record_paths
from lazyext._uv import install as uv_install
from lazyext._uv.progress import installing

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Protocol

    class Prepared(Protocol):
        """An install made ahead (lazyext._env.speculate): its prefix, if it holds
        exactly these (name, version) pins."""

        def take(self, pins: Sequence[tuple[DistName, str]], name: str | None) -> str | None: ...

    class Pin(Protocol):
        """One distribution to install at one version (``lazyext._env.stored.Locked``)."""

        @property
        def name(self) -> DistName: ...
        @property
        def version(self) -> str: ...
        @property
        def key(self) -> DistKey: ...
        @property
        def hashes(self) -> tuple[str, ...]: ...
        @property
        def requirement(self) -> str: ...


def install(
    root: str,
    pins: Sequence[Pin],
    settings: Settings,
    platform: str,
    *,
    failure_key: str,
    label: str,
    name: str | None = None,
    why: str = "",
    shown: str = "",
    prepared: Prepared | None = None,
) -> tuple[list[Entry], list[Entry]]:
    """The entries of ``pins``, in order, found or installed and published now; and
    those this process published (for the "extension installed" event).

    ``failure_key`` and ``label`` say for whom (an extension, or ``warm``'s environment)
    in failure memory and messages; ``name`` is the import that needs them; the progress
    line says ``shown`` (default: ``label``) is installed for ``why`` (default: that
    import). ``prepared``: an install made ahead, used instead of running uv if it holds
    exactly the pins' versions (its other distributions are left out).
    """
    found = {pin.key: find_entry(root, pin.key, platform, settings) for pin in pins}
    missing = [pin for pin in pins if found[pin.key] is None]
    made: list[Entry] = []
    if missing:

        def find_all() -> dict[DistKey, Entry] | None:
            entries = {pin.key: find_entry(root, pin.key, platform, settings) for pin in missing}
            return _complete(entries)

        def make(staging: str) -> dict[DistKey, Entry]:
            entries = {pin.key: find_entry(root, pin.key, platform, settings) for pin in missing}
            still = [pin for pin in missing if entries[pin.key] is None]
            for pin in still:  # a wheel that contradicted its RECORD moments ago
                verify.raise_if_refused(root, pin.requirement, pin.key, name)
            progress = (shown or label, why or (f"`import {name}`" if name else ""))
            ahead = None
            if prepared is not None:
                ahead = prepared.take([(pin.name, pin.version) for pin in still], name)
            new = _install_and_publish(
                staging, still, settings, root, platform, label, name, progress, ahead
            )
            made.extend(new.values())
            entries.update(new)
            complete = _complete(entries)
            assert complete is not None
            return complete

        found.update(
            flight.get_or_make(
                root,
                [pin.key for pin in missing],
                find_all,
                make,
                failure_key=failure_key,
                label=label,
                doing=f"installing {label}",
                name=name,
                lock_timeout=settings.lock_timeout,
                failure_ttl=settings.failure_ttl,
                skip_find=True,
            )
        )
    return [entry for entry in (found[pin.key] for pin in pins) if entry is not None], made


def _complete(entries: dict[DistKey, Entry | None]) -> dict[DistKey, Entry] | None:
    done = {key: entry for key, entry in entries.items() if entry is not None}
    return done if len(done) == len(entries) else None


def _install_and_publish(
    staging: str,
    missing: Sequence[Pin],
    settings: Settings,
    root: str,
    platform: str,
    label: str,
    name: str | None,
    progress: tuple[str, str],
    ahead: str | None = None,
) -> dict[DistKey, Entry]:
    """uv into ``staging`` (or the prefix installed ``ahead``), then each distribution
    published; their entries."""
    work = _subdir(staging, "install")
    target = os.path.join(work, "target")
    if ahead is not None:
        os.rename(ahead, schemes.prefix_for(target))
    else:
        shown, why = progress
        shown = shown if len(missing) == 1 else f"{shown} ({len(missing)} distributions)"
        with installing(shown, why):
            uv_install.install(
                [(pin.requirement, pin.hashes) for pin in missing],
                schemes.prefix_for(target),
                settings,
                requirements=os.path.join(staging, "requirements.txt"),
                label=label,
                name=name,
                key=missing[0].key,
            )
    schemes.relocate(schemes.prefix_for(target), target, label)
    if not os.path.isdir(target):
        raise InstallError(
            f"uv reported success for {label} but left no target directory", spec=label
        )
    sharing = _sharing(target, missing) if len(missing) > 1 else set()
    if sharing:
        # Two wheels of one run ship the same path (a pkgutil namespace's
        # __init__.py, a stray tests/ package): uv kept one copy, so the other's
        # files cannot match its RECORD. Those distributions install alone.
        flight.remove_tree(work)
        rest = [pin for pin in missing if pin.key not in sharing]
        groups = ([rest] if rest else []) + [[pin] for pin in missing if pin.key in sharing]
        _log.info("%s share files: installing them one by one", sorted(sharing))
        done: dict[DistKey, Entry] = {}
        for group in groups:
            part = _subdir(staging, f"group-{len(done)}-{group[0].key}")
            done.update(
                _install_and_publish(part, group, settings, root, platform, label, name, progress)
            )
        return done
    # What was installed ahead may hold more (the host's distributions): split it too.
    whole = len(missing) == 1 and ahead is None
    parts = {missing[0].key: work} if whole else _split(staging, work, missing)
    published = {}
    for pin in missing:
        part = parts[pin.key]
        entry = _describe(pin, settings, root, platform, part, label)
        write_metadata(part, entry)
        final = publish(part, root, pin.key, platform)
        _log.info("published %s %s as %s", pin.name, pin.version, final)
        published[pin.key] = read_entry(final) or replace(entry, path=final)
    return published


def _subdir(parent: str, name: str) -> str:
    path = os.path.join(parent, name)
    os.mkdir(path, 0o700)
    return path


def _split(staging: str, work: str, missing: Sequence[Pin]) -> dict[DistKey, str]:
    """Move each distribution's files (by its RECORD) into a generation of its own."""
    target = os.path.join(work, "target")
    infos = _dist_info_dirs(target)
    parts: dict[DistKey, str] = {}
    owners: dict[str, dict[DistKey, list[str]]] = {}  # top-level item -> key -> paths in it
    for pin in missing:
        part = _subdir(staging, f"part-{pin.key}")
        os.mkdir(os.path.join(part, "target"), 0o700)
        parts[pin.key] = part
        info = infos.get(pin.name)
        if info is None:
            continue  # _describe reports it
        for path in (info, *record_paths(os.path.join(target, info, "RECORD"))):
            normal = located(path)
            if normal is None:
                continue
            if normal.startswith(DATA_PREFIX):  # a data-scheme file: ../data/<path>
                _move_file(work, part, normal[len(os.pardir + os.sep) :])
                continue
            top = normal.split(os.sep, 1)[0]
            owners.setdefault(top, {}).setdefault(pin.key, []).append(normal)
    for top, claims in owners.items():
        source = os.path.join(target, top)
        if not os.path.lexists(source):
            continue
        if len(claims) == 1:
            (key,) = claims
            os.rename(source, os.path.join(parts[key], "target", top))
            continue
        for key, paths in claims.items():  # a namespace shared by several: file by file
            for path in paths:
                _move_file(work, parts[key], os.path.join("target", path))
    return parts


def _sharing(target: str, missing: Sequence[Pin]) -> set[DistKey]:
    """The keys of the distributions whose RECORD lists a path another one lists too."""
    infos = _dist_info_dirs(target)
    claimed: dict[str, DistKey] = {}  # path -> the first key that lists it
    sharing: set[DistKey] = set()
    for pin in missing:
        info = infos.get(pin.name)
        if info is None:
            continue
        for path in set(
            filter(None, map(located, record_paths(os.path.join(target, info, "RECORD"))))
        ):
            first = claimed.setdefault(path, pin.key)
            if first != pin.key:
                sharing.update((first, pin.key))
    return sharing


def _move_file(source: str, part: str, relative: str) -> None:
    origin = os.path.join(source, relative)
    if os.path.isfile(origin) or os.path.islink(origin):
        destination = os.path.join(part, relative)
        os.makedirs(os.path.dirname(destination), 0o700, exist_ok=True)
        os.rename(origin, destination)


def _dist_info_dirs(target: str) -> dict[DistName, str]:
    found = {}
    for name in os.listdir(target):
        if name.endswith(".dist-info"):
            dist = name[: -len(".dist-info")].rpartition("-")[0]
            found[canonical_name(dist)] = name
    return found


def _describe(
    pin: Pin, settings: Settings, root: str, platform: str, part: str, label: str
) -> Entry:
    """Verify one distribution's install and describe it; raise if it is not usable."""
    target = os.path.join(part, "target")
    try:
        names = sorted(os.listdir(target))
    except OSError as error:
        raise InstallError(
            f"uv reported success for {pin.requirement} but left no target directory",
            spec=label,
            cache_key=pin.key,
        ) from error
    resolved = tuple(sorted(_dist_infos(names)))
    if not any(canonical_name(dist) == pin.name for dist, _ in resolved):
        raise InstallError(
            f"uv reported success for {pin.requirement} but {pin.name} is not in the result",
            spec=label,
            cache_key=pin.key,
        )
    verify.require_verified(target, root=root, requirement=pin.requirement, cache_key=pin.key)
    return Entry(
        key=pin.key,
        platform=platform,
        requirement=pin.requirement,
        path=part,
        installed_at=time.time(),
        ttl_seconds=settings.ttl_hours * 3600.0,
        resolved=resolved,
        top_level=tuple(_top_level(target, names)),
        pth=tuple(name for name in names if name.endswith(".pth")),
    )


def _dist_infos(names: list[str]) -> list[tuple[str, str]]:
    found = []
    for name in names:
        if name.endswith(".dist-info"):
            dist, _, version = name[: -len(".dist-info")].rpartition("-")
            if dist:
                found.append((dist, version))
    return found


def _top_level(target: str, names: list[str]) -> list[str]:
    """Importable top-level names: packages, modules and extension modules."""
    found: dict[str, None] = {}
    for name in names:
        if (
            name.startswith(".")
            or name in NOT_IMPORTABLE
            or name.endswith((".dist-info", ".data", ".pth"))
        ):
            continue
        stem = name.partition(".")[0]
        if not stem.isidentifier():
            continue
        if os.path.isdir(os.path.join(target, name)):
            if "." not in name:
                found[name] = None
        elif name.endswith((".py", ".pyc", ".so", ".pyd")):
            found[stem] = None
    shadowing = sorted(set(found) & set(sys.stdlib_module_names))
    if shadowing:
        _log.warning(
            "%s ships top-level names of the standard library (%s); they are never imported "
            "from it",
            target,
            ", ".join(shadowing),
        )
    return [name for name in found if name not in sys.stdlib_module_names]
