"""``lazyext lock``: resolve the config's environment and write its ``pylock.toml``.

The file is for a repository: locking the same config twice writes the same bytes (the
old lock is uv's preference, its header names no path of this machine), and it says
which environments it covers (PEP 751 ``environments``). ``--check`` resolves the same
way and writes nothing: exit 1 if the file would change, as ``uv lock --check``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from lazyext import _trust
from lazyext._env import lockfile, stored
from lazyext._env.resolve import resolve_lock
from lazyext._errors import ConfigError, LockFileError
from lazyext._record import replace
from lazyext._settings.config import Config
from lazyext.cli.output import EXIT_OK, load_config, print_json


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "lock",
        help="resolve the enabled extensions together and write the environment's pylock.toml",
    )
    parser.add_argument(
        "--upgrade", action="store_true", help="prefer the newest releases over the lock's versions"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="where to write (default: the config's `lock`, else pylock.toml next to the config)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the lock file is missing or locking would change it",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=cmd_lock)


def lock_path(config: Config, output: str | None) -> str:
    if output:
        return os.path.abspath(output)
    if config.settings.lock:
        return str(config.settings.lock)
    source = str(config.source)
    base = os.path.dirname(source) if os.path.isfile(source) else os.getcwd()
    return os.path.join(base, "pylock.toml")


def cmd_lock(args: argparse.Namespace) -> int:
    config = load_config(args)
    path = lock_path(config, args.output)
    if args.check:
        return _check(args, config, path)
    _check_writable(path)  # before resolving: a typo in -o costs nothing
    previous = None
    if os.path.lexists(path):
        previous, why = _previous(path)
        if why:  # someone's lock, for elsewhere or broken: never overwritten
            raise LockFileError(
                f"{why}; lazyext lock does not overwrite it: lock to another file with "
                "`lazyext lock -o PATH`, or move it aside first"
            )
        if args.upgrade:
            previous = None
    env, text = resolve_lock(config, upgrade=args.upgrade, previous=previous)
    _write(path, text)
    configured = config.settings.lock == path
    if configured:  # the config uses this file: keep the cache's copy in step with it
        root = _trust.ensure_root(config.settings.cache_dir)
        # Stored unchecked against the host: the first import of a process checks it,
        # against that process's sys.path (a PYTHONPATH this one lacks, say).
        stored.store(root, replace(env, source=stored.lock_identity(path)), text)
    if args.json:
        print_json(
            {
                "lock": path,
                "configured": configured,
                "distributions": [
                    {"name": d.name, "version": d.version, "host": bool(d.host)} for d in env.dists
                ],
            }
        )
        return EXIT_OK
    print(f"locked {len(env.dists)} distributions in {path}")
    for locked in env.dists:
        print(f"  {locked.name}=={locked.version}" + (" (host)" if locked.host else ""))
    if not configured:
        print(
            f'to install exactly these everywhere, add `lock = "{os.path.basename(path)}"` to '
            f"{config.source} (or pass activate(lock=...))"
        )
    return EXIT_OK


def _check_writable(path: str) -> None:
    directory = os.path.dirname(path)
    if os.path.isdir(path):
        problem = "it is a directory; name a file in it, e.g. pylock.toml"
    elif not os.path.isdir(directory):
        problem = f"the directory {directory!r} does not exist; create it or choose another"
    elif not os.access(directory, os.W_OK):
        problem = f"the directory {directory!r} is not writable; choose another path with -o"
    else:
        return
    raise ConfigError(f"cannot write the lock file {path!r}: {problem}")


def _write(path: str, text: str) -> None:
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise ConfigError(
            f"cannot write the lock file {path!r}: {error.strerror or error}; "
            "choose another path with -o"
        ) from error


def _check(args: argparse.Namespace, config: Config, path: str) -> int:
    """``--check``: would locking now write other bytes than the file has?"""
    if args.upgrade:
        raise ConfigError("lazyext lock: --check and --upgrade do not go together")
    previous, why = _previous(path)
    _, text = resolve_lock(config, previous=previous)
    changes = [why] if why else _changes(previous, text, path)
    if args.json:
        print_json({"lock": path, "current": not changes, "changes": changes})
    elif changes:
        print(f"{path} is stale; run `lazyext lock` to update it:")
        for change in changes:
            print(f"  {change}")
    else:
        print(f"{path} is current")
    return 1 if changes else EXIT_OK


def _previous(path: str) -> tuple[str | None, str]:
    """The lock file's text, if it is a lock for this interpreter (uv's preferences:
    versions stay where they are), else why not."""
    if not os.path.lexists(path):
        return None, "the lock file does not exist"
    try:
        text = lockfile.read(path)
        lockfile.read_packages(text, path)
    except LockFileError as error:
        return None, str(error)
    return text, ""


def _changes(previous: str | None, text: str, path: str) -> list[str]:
    """What locking now changes in the file: versions first, then any other text."""
    if previous is None or previous == text:
        return []
    before = {p.name: p.version for p in lockfile.read_packages(previous, path)}
    after = {p.name: p.version for p in lockfile.read_packages(text, path)}
    changes = [f"+ {name} {after[name]}" for name in sorted(after.keys() - before.keys())]
    changes += [f"- {name} {before[name]}" for name in sorted(before.keys() - after.keys())]
    changes += [
        f"{name} {before[name]} -> {after[name]}"
        for name in sorted(before.keys() & after.keys())
        if before[name] != after[name]
    ]
    return changes or ["the same versions; other text differs (hashes, header or graph)"]
