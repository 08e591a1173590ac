"""``lazyext lock``: resolve the config's environment and write its ``pylock.toml``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from lazyext import _trust
from lazyext._env import lockfile, stored
from lazyext._env.resolve import resolve_lock
from lazyext._errors import ConfigError
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
    _check_writable(path)  # before resolving: a typo in -o costs nothing
    previous = None
    if not args.upgrade and os.path.isfile(path):
        previous = lockfile.read(path)
    env, text = resolve_lock(config, upgrade=args.upgrade, previous=previous)
    _write(path, text)
    configured = config.settings.lock == path
    if configured:  # the config uses this file: keep the cache's copy in step with it
        root = _trust.ensure_root(config.settings.cache_dir)
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
