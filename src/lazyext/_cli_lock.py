"""``lazyext lock``: resolve the config's environment and write its ``pylock.toml``."""

from __future__ import annotations

import argparse
import os
from typing import Any

from lazyext.cli import EXIT_OK, load_config, print_json


def register(sub: Any) -> None:
    lock = sub.add_parser(
        "lock",
        help="resolve the enabled extensions together and write the environment's pylock.toml",
    )
    lock.add_argument(
        "--upgrade", action="store_true", help="prefer the newest releases over the lock's versions"
    )
    lock.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="where to write (default: the config's `lock`, else pylock.toml next to the config)",
    )
    lock.add_argument("--json", action="store_true", help="machine-readable output")
    lock.set_defaults(handler=cmd_lock)


def lock_path(config: Any, output: str | None) -> str:
    if output:
        return os.path.abspath(output)
    if config.settings.lock:
        return str(config.settings.lock)
    source = str(config.source)
    base = os.path.dirname(source) if os.path.isfile(source) else os.getcwd()
    return os.path.join(base, "pylock.toml")


def cmd_lock(args: argparse.Namespace) -> int:
    from lazyext import _cache, _environment, _resolve
    from lazyext._provision import _check_hashes

    config = load_config(args)
    path = lock_path(config, args.output)
    _check_writable(path)  # before resolving: a typo in -o costs nothing
    previous = None
    if not args.upgrade and os.path.isfile(path):
        from lazyext._lockfile import read

        previous = read(path)
    plans = _resolve.environment_plans(config)
    env, text = _resolve.resolve(
        config, config.env_key, plans, upgrade=args.upgrade, previous=previous
    )
    _check_hashes(env, plans)
    _write(path, text)
    configured = config.settings.lock == path
    if configured:  # the config uses this file: keep the cache's copy in step with it
        from lazyext._record import replace

        root = _cache.ensure_root(config.settings.cache_dir)
        _environment.store(root, replace(env, source=_environment.lock_identity(path)), text)
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
    from lazyext._errors import ConfigError

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
    from lazyext._errors import ConfigError

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
