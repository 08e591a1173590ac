"""``lazyext unpack``: the entries of an archive, into this cache.

Unpacking trusts nothing in the archive: every member name and type is checked
(regular files and directories only, below one of the manifest's entries), the
platform must be this interpreter's, counts and sizes must match the manifest (counted
as the archive streams: the first byte past what the manifest declares, or past the
share of the free disk an unpack may use, is refused, never written), every file must
match its wheel's ``RECORD`` (:mod:`lazyext._store.verify`), the metadata is rewritten
by lazyext, never loaded from the archive with ``marshal``, and the packed lock passes
every check of a user's lock, its sources included (:func:`lockfile.check_lock`). All
of it is extracted into a private staging directory and checked first; only when the
whole archive passed are the entries published, each through the store's get-or-make
under its key's lock, skipping any key the cache already serves, and the environment
stored last. So a refused or interrupted unpack leaves nothing that a reader would
use, and two processes unpacking the same archive publish one copy.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tarfile
import time
from typing import Any

from lazyext import _trust
from lazyext._env import host, lockfile, resolve, stored
from lazyext._env.stored import Environment, environment_plans
from lazyext._errors import LockFileError
from lazyext._pack.archive import (
    FORMAT,
    GENERATION,
    KEY,
    MANIFEST,
    MAX_JSON,
    Budget,
    PackError,
    PackReport,
    drain,
    makedirs,
    member_place,
    open_input,
    write_member,
)
from lazyext._settings.config import Config
from lazyext._store import flight, verify
from lazyext._store.entries import Entry, entry_from, new_staging, publish, write_metadata
from lazyext._store.layers import find_entry


def unpack(config: Config, path: str) -> PackReport:
    """Import the entries of archive ``path`` into the cache of ``config``.

    Raises :class:`PackError` (nothing published) for a damaged, truncated, foreign-
    platform, path-traversing or oversized archive, or one whose packed lock names a
    source the config does not allow. Keys the cache (or a layer) already serves are
    skipped, so unpacking twice is harmless.
    """
    started = time.monotonic()
    settings = config.settings
    root = _trust.ensure_root(settings.cache_dir)
    report = PackReport(path=os.path.abspath(path))
    staging = new_staging(root, "unpack")
    try:
        # Everything is checked first: each entry against its RECORD, and the packed
        # lock like a user's lock; only then is anything published, the environment last.
        manifest, packed_env = _extract(path, staging, config.platform)
        ready = [_check_entry(staging, item, config.platform) for item in manifest]
        environment = _packed_environment(config, packed_env, path)
        for entry in ready:
            report.entries.append(f"{entry.requirement} ({entry.key})")
            _publish(root, entry, config, report)
        if environment is not None:  # stored only once every entry it names is in place
            stored.store(root, *environment)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.bytes_out = os.path.getsize(path)
    report.seconds = time.monotonic() - started
    return report


def _packed_environment(
    config: Config, packed: dict[str, Any] | None, path: str
) -> tuple[Environment, str] | None:
    """The packed environment to store for ``config``, once its lock passed every check
    of a user's lock (its fields, its sources, this platform, the config's hashes); or
    ``None`` if the archive has none or it was packed for another config (its entries
    still serve; the config resolves). The versions packed are then the ones this config
    uses, whichever index it names, and nothing is resolved."""
    if not isinstance(packed, dict):
        return None
    text = packed.get("pylock")
    if not isinstance(text, str):
        raise PackError(f"{path}: damaged manifest (environment without its lock)")
    plans = environment_plans(config)
    where = f"{path} (its packed pylock.toml)"
    try:
        packages = lockfile.check_lock(text, where, config.settings)
        lockfile.check_platform(packages, where, config.settings.allow_sdist)
    except LockFileError as error:
        raise PackError(f"refusing the archive: {error}; nothing was unpacked") from error
    try:
        lockfile.check_covers(packages, {p.name: p.requirement for p in plans}, where)
    except LockFileError:
        return None  # packed for another config
    pinned = {p.dist: p.extension.hashes for p in plans if p.extension.hashes}
    try:
        lockfile.check_hashes(packages, pinned, where)
    except LockFileError as error:
        raise PackError(f"refusing the archive: {error}; nothing was unpacked") from error
    if config.settings.lock:
        return None  # the config's own lock file pins its environment
    on_host = host.host_distributions(config.settings.cache_dir)
    return resolve.build(config, config.env_key, plans, packages, on_host), text


def _extract(
    path: str, staging: str, platform: str
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Extract ``path`` into ``staging``; the manifest's entries, counted and checked,
    and the packed environment."""
    try:
        raw, stream = open_input(path)
    except OSError as error:
        raise PackError(f"{path}: cannot read the archive: {error}") from error
    try:
        with raw, tarfile.open(fileobj=stream, mode="r|") as archive:
            manifest, packed_env = _read_manifest(path, archive, platform)
            expected = {
                "/".join(("entries", item["key"], item["platform"], item["generation"])): item
                for item in manifest
            }
            declared = {base: (item["files"], item["bytes"]) for base, item in expected.items()}
            budget = Budget(path, declared, shutil.disk_usage(staging).free)
            while (member := archive.next()) is not None:
                base, relative = member_place(path, member, expected)
                destination = os.path.join(staging, *base.split("/"), *relative.split("/"))
                if member.isdir():
                    budget.directory(base, member.name)
                    makedirs(staging, destination)
                    continue
                spend = budget.file(base, member, relative.startswith(("target/", "data/")))
                makedirs(staging, os.path.dirname(destination))
                source = archive.extractfile(member)
                assert source is not None  # a regular file
                write_member(destination, source, member, spend)
            drain(stream, path)
    except PackError:
        raise
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise PackError(
                f"{path}: the disk holding the cache filled up while unpacking ({error}); "
                "nothing was unpacked: free some space and unpack again"
            ) from error
        raise _damaged(path, error) from error
    except Exception as error:  # tarfile, EOF, zstandard.ZstdError and other decoder errors
        raise _damaged(path, error) from error
    for base, item in expected.items():
        if budget.counts(base) != (item["files"], item["bytes"]):
            files, size = budget.counts(base)
            raise PackError(
                f"{path}: truncated or altered archive: {base} has {files} files "
                f"({size} bytes), the manifest says {item['files']} "
                f"({item['bytes']} bytes); nothing was unpacked: copy it again"
            )
    return list(expected.values()), packed_env


def _damaged(path: str, error: BaseException) -> PackError:
    return PackError(
        f"{path}: damaged or truncated archive ({type(error).__name__}: {error}); "
        "nothing was unpacked: copy it again"
    )


def _read_manifest(
    path: str, archive: tarfile.TarFile, platform: str
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    first = archive.next()
    if first is None or first.name != MANIFEST or not first.isfile() or first.size > MAX_JSON:
        raise PackError(f"{path}: not a lazyext archive (no {MANIFEST} at its start)")
    source = archive.extractfile(first)
    assert source is not None
    try:
        manifest = json.loads(source.read())
    except ValueError as error:
        raise PackError(f"{path}: damaged manifest ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise PackError(
            f"{path}: archive format {found!r} is not {FORMAT}; pack it again with this "
            "version of lazyext"
        )
    if manifest.get("platform") != platform:
        raise PackError(
            f"{path}: packed for {manifest.get('platform')}, but this interpreter is "
            f"{platform}; pack on a machine like this one (or `lazyext pack --platform "
            f"{platform}` from a cache that has it)"
        )
    items = manifest.get("entries")
    if not isinstance(items, list):
        raise PackError(f"{path}: damaged manifest (no entry list)")
    for item in items:
        valid = (
            isinstance(item, dict)
            and isinstance(item.get("key"), str)
            and KEY.fullmatch(item["key"])
            and item.get("platform") == platform
            and isinstance(item.get("generation"), str)
            and GENERATION.fullmatch(item["generation"])
            and _count(item.get("files"))
            and _count(item.get("bytes"))
        )
        if not valid:
            raise PackError(f"{path}: damaged or foreign manifest entry {item!r}")
    packed_env = manifest.get("environment")
    return items, packed_env if isinstance(packed_env, dict) else None


def _count(value: object) -> bool:
    return type(value) is int and value >= 0


def _check_entry(staging: str, item: dict[str, Any], platform: str) -> Entry:
    """The staged generation of manifest ``item``, metadata rewritten and verified."""
    path = os.path.join(staging, "entries", item["key"], item["platform"], item["generation"])
    try:
        with open(os.path.join(path, "entry.json"), "rb") as handle:
            data = json.loads(handle.read(MAX_JSON))
        entry = entry_from(data, path)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise PackError(
            f"{item['key']}: missing or damaged entry.json ({error}); nothing was unpacked"
        ) from error
    if (entry.key, entry.platform) != (item["key"], platform):
        raise PackError(
            f"{item['key']}: entry.json describes {entry.key} for {entry.platform}; "
            "nothing was unpacked"
        )
    problems = verify.verify(entry)
    if problems:
        listing = "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
        raise PackError(
            f"{entry.requirement} ({entry.key}) does not match its wheels' RECORD: {listing}; "
            "nothing was unpacked: pack it again from a cache that `lazyext verify` passes"
        )
    write_metadata(path, entry)
    return entry


def _publish(root: str, entry: Entry, config: Config, report: PackReport) -> None:
    """Publish a checked, staged entry unless the cache already serves its key."""
    settings = config.settings
    found: list[bool] = []

    def find() -> Entry | None:
        return find_entry(root, entry.key, entry.platform, settings)

    def make(_staging: str) -> Entry:
        found.append(True)
        publish(entry.path, root, entry.key, entry.platform)
        return entry

    flight.get_or_make(
        root,
        [entry.key],
        find,
        make,
        failure_key=entry.key,
        label=entry.requirement,
        doing=f"unpacking {entry.requirement}",
        lock_timeout=settings.lock_timeout,
        failure_ttl=0.0,
    )
    (report.published if found else report.skipped).append(entry.key)
