"""``lazyext pack``: the published entries of an environment, into one archive.

What is packed is the closure of every enabled extension (:func:`selection`), with the
environment's lock, so that unpacking needs no resolution (:mod:`.unpack`); the format
is :mod:`.archive`'s. The archive is written to a temporary file and renamed.
"""

from __future__ import annotations

import json
import os
import tarfile
import time
from typing import Any

from lazyext import _trust
from lazyext._env import stored
from lazyext._pack.archive import (
    FORMAT,
    MANIFEST,
    PackError,
    PackReport,
    add_bytes,
    add_file,
    compression_for,
    files_of,
    open_output,
)
from lazyext._record import replace
from lazyext._report import status
from lazyext._settings.config import Config
from lazyext._store.entries import Entry, entry_metadata


def selection(config: Config, platform: str | None = None) -> list[Entry]:
    """The published entries the enabled extensions of ``config`` need on ``platform``.

    The one place that decides what an environment is made of, for pack and for the
    fleet integrations: every distribution of every enabled extension's closure, once.
    """
    platform = platform or config.platform
    config = replace(config, platform=platform) if platform != config.platform else config
    env = status.stored_environment(config)
    found: dict[str, Entry] = {}
    missing = []
    for plan in config.plans:
        if plan.extension.package is None or not plan.extension.enabled or not plan.marker_ok:
            continue
        entries = status.closure_entries(config, plan, env)
        if entries is None:
            missing.append(plan.name)
        for entry in entries or ():
            found.setdefault(entry.key, entry)
    if missing:
        raise PackError(
            f"not in the cache for {platform}: {', '.join(missing)}; run `lazyext warm` on "
            "a machine of that platform first"
        )
    return list(found.values())


def environment_of(config: Config, platform: str) -> dict[str, Any] | None:
    """The stored environment's key and lock text, so that unpacking needs no resolution."""
    if platform != config.platform:
        return None
    env = status.stored_environment(config)
    if env is None:
        return None
    root = _trust.ensure_root(config.settings.cache_dir)
    directory = stored.env_dir(root, env.key, env.platform)
    try:
        with open(os.path.join(directory, stored.LOCK_FILE), encoding="utf-8") as handle:
            return {"key": env.key, "pylock": handle.read()}
    except OSError:
        return None


def pack(config: Config, output: str, *, platform: str | None = None) -> PackReport:
    """Write the environment's entries to ``output`` (atomically: temp file + rename)."""
    started = time.monotonic()
    platform = platform or config.platform
    entries = selection(config, platform)
    output = os.path.abspath(output)
    compression = compression_for(output)
    report = PackReport(path=output)
    listing = [(entry, list(files_of(entry))) for entry in entries]
    manifest = {
        "format": FORMAT,
        "platform": platform,
        "environment": environment_of(config, platform),
        "entries": [
            {
                "key": entry.key,
                "platform": entry.platform,
                "generation": os.path.basename(entry.path),
                "requirement": entry.requirement,
                "files": len(files),
                "bytes": sum(size for _relative, size in files),
            }
            for entry, files in listing
        ],
    }
    temporary = f"{output}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        with (
            open_output(temporary, compression) as stream,
            tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as archive,
        ):
            add_bytes(archive, MANIFEST, json.dumps(manifest, indent=1).encode())
            for entry, files in listing:
                base = "/".join(
                    ("entries", entry.key, entry.platform, os.path.basename(entry.path))
                )
                metadata = entry_metadata(entry)
                add_bytes(archive, f"{base}/entry.json", json.dumps(metadata).encode())
                for relative, size in files:
                    add_file(archive, f"{base}/{relative}", entry.path, relative)
                    report.files += 1
                    report.bytes_in += size
                report.entries.append(f"{entry.requirement} ({entry.key})")
        os.replace(temporary, output)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise
    report.bytes_out = os.path.getsize(output)
    report.seconds = time.monotonic() - started
    return report
