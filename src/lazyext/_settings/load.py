"""Find and load a configuration, through a compiled form kept in the cache.

Parsing a config costs ~50 ms (tomllib, packaging, hashlib); lazyext's warm path
budget is a few milliseconds. So the parsed and keyed result is stored, with
``marshal``, in ``<cache root>/compiled.marshal`` under a fingerprint of everything
it was computed from (the source or the file's identity and mtime, the overrides, the
environment variables lazyext reads, the interpreter). Only sources that parsed
without error are stored, so a hit is always a config that was validated.

A memo value is obeyed without parsing the config again: :mod:`.memo` seals each with
this user's key (checked once per memo file) and checks it as data before it is used.
"""

from __future__ import annotations

import os
import sys

# collections.abc costs ~1 ms to import; its private twin is loaded at startup by os.
from _collections_abc import Mapping

from lazyext import _columns
from lazyext._settings import memo
from lazyext._settings.config import (
    SCHEMA,
    Config,
    Extension,
    default_cache_root,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Final, TypeAlias

    ConfigSource: TypeAlias = (
        "str | os.PathLike[str] | Mapping[str, str] | Sequence[Extension] | None"
    )

_ENV_INPUTS: Final = (
    "LAZYEXT_CACHE_DIR",
    "LAZYEXT_CACHE_READ",
    "LAZYEXT_OFFLINE",
    "UV_OFFLINE",
    "UV_DEFAULT_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "XDG_CACHE_HOME",
    "HOME",
)


def load(config: ConfigSource, overrides: Mapping[str, Any]) -> Config:
    """Load ``config`` with keyword ``overrides`` applied (``None`` values ignored)."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if config is not None and not isinstance(config, (str, os.PathLike, Mapping)):
        try:
            config = tuple(config)  # read twice (fingerprint, parse): an iterator only once
        except TypeError as error:
            from lazyext._errors import ConfigError  # where raised: off the warm path

            raise ConfigError(
                "config must be None, a path to a TOML file, a mapping of import name to "
                f"requirement or a sequence of lazyext.Extension, not {type(config).__name__}"
            ) from error
    path = _config_path(config)
    identity = _identity(config, path)
    fingerprint = repr((SCHEMA, identity, sorted(overrides.items(), key=repr), _environment()))
    memo_file = os.path.join(_bootstrap_root(overrides), memo.NAME)
    keyring = memo.memo_key()
    if keyring is None:  # no data directory for the key: no memo
        return _parse(config, path, overrides)
    values, found = memo.lookup(memo_file, fingerprint, keyring)
    if found is not None:
        return found
    result = _parse(config, path, overrides)
    memo.write(memo_file, values, fingerprint, result, keyring[0])
    return result


def _config_path(config: ConfigSource) -> str | None:
    if isinstance(config, (str, os.PathLike)):
        path = os.path.abspath(os.path.expanduser(os.fspath(config)))
        if not os.path.isfile(path):
            from lazyext._errors import ConfigError  # where raised: off the warm path

            raise ConfigError(f"config file {path!r} does not exist", source=path)
        return path
    if config is not None:
        return None
    return discover()


def discover() -> str | None:
    """``$LAZYEXT_CONFIG``; else the first ``lazyext.toml``, or ``pyproject.toml`` with a
    ``[tool.lazyext]`` table, walking up from the working directory, then from the main
    script's directory; a walk stops at a repository root (``.git``) or ``/``.

    A few ``stat`` calls per directory: this runs on every ``activate()`` (warm path).
    """
    named = os.environ.get("LAZYEXT_CONFIG")
    if named:
        path = os.path.abspath(os.path.expanduser(named))
        if not os.path.isfile(path):
            from lazyext._errors import ConfigError  # where raised: off the warm path

            raise ConfigError(f"LAZYEXT_CONFIG names {path!r}, which does not exist")
        return path
    for start in search_starts():
        found = _walk_up(start)[0]
        if found is not None:
            return found
    return None


def search_starts() -> list[str]:
    """Where discovery starts: the working directory, then the main script's directory
    (unless the script is an installed tool's, under the interpreter's prefix)."""
    starts = [os.getcwd()]
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if isinstance(script, str) and script:
        directory = os.path.dirname(os.path.abspath(script))
        prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix}
        installed = any(directory.startswith(os.path.join(p, "")) for p in prefixes)
        if directory not in starts and not installed:
            starts.append(directory)
    return starts


def _walk_up(directory: str) -> tuple[str | None, str]:
    """The config file found from ``directory`` up, and the last directory looked in."""
    while True:
        candidate = os.path.join(directory, "lazyext.toml")
        if os.path.isfile(candidate):
            return candidate, directory
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate) and _has_lazyext_table(candidate):
            return candidate, directory
        parent = os.path.dirname(directory)
        if parent == directory or os.path.exists(os.path.join(directory, ".git")):
            return None, directory
        directory = parent


def _has_lazyext_table(pyproject: str) -> bool:
    """Cheap test (no TOML parser on the warm path): does the file mention a
    ``tool.lazyext`` table (``[tool.lazyext]``, ``[[tool.lazyext.extensions]]``, or
    ``lazyext`` under ``[tool]``)?"""
    try:
        with open(pyproject, "rb") as handle:
            data = handle.read()
    except OSError:
        return False
    return b"tool.lazyext" in data or (b"[tool]" in data and b"lazyext" in data)


def not_found_message() -> str:
    """What discovery looked at, for the warning of ``activate()`` without a config."""
    walks = []
    for start in search_starts():
        last = _walk_up(start)[1]
        walks.append(f"{start}" if last == start else f"{start} up to {last}")
    return (
        "no lazyext config found: looked for lazyext.toml, or pyproject.toml with a "
        f"[tool.lazyext] table, in {' and in '.join(walks)}; running with the defaults "
        "(no extensions). Pass the config to activate(), or set LAZYEXT_CONFIG"
    )


def _identity(config: ConfigSource, path: str | None) -> object:
    if path is not None:
        stat = os.stat(path)
        # The working directory too: relative paths from the environment or keyword
        # arguments are resolved against it (the file's own against the file).
        return ("file", path, stat.st_mtime_ns, stat.st_size, stat.st_ino, os.getcwd())
    if isinstance(config, Mapping):
        pairs = list(config.items())
        if _columns.typed(list(config), str) and _columns.typed(list(config.values()), str):
            return ("str-mapping", sorted(pairs), os.getcwd())
        return ("mapping", sorted((repr(k), repr(v)) for k, v in pairs), os.getcwd())
    if config is None:
        return ("defaults", os.getcwd())
    items: Any = config
    return ("extensions", [repr(item) for item in items], os.getcwd())


def _environment() -> tuple[object, ...]:
    return (
        tuple(os.environ.get(name) for name in _ENV_INPUTS),
        # Where the memo's key is: processes with other data directories (other keys)
        # sharing a cache keep their own memo values instead of replacing each other's.
        os.environ.get("LAZYEXT_DATA_DIR"),
        os.environ.get("XDG_DATA_HOME"),
        sys.executable,
        sys.version,
        sys.platform,
    )


def _bootstrap_root(overrides: Mapping[str, Any]) -> str:
    explicit = overrides.get("cache_dir") or os.environ.get("LAZYEXT_CACHE_DIR")
    if explicit:
        return os.path.abspath(os.path.expanduser(str(explicit)))
    return default_cache_root()


def _parse(config: ConfigSource, path: str | None, overrides: Mapping[str, Any]) -> Config:
    # Only when the memo misses: parsing, the keys and their hashing (~5 ms; a config
    # file adds tomllib, a requirement that is not plain packaging).
    from lazyext._settings import parse

    if path is not None:
        return parse.parse_file(path, overrides)
    if isinstance(config, (str, os.PathLike)):
        raise AssertionError("unreachable: paths are resolved above")
    return parse.parse_objects(config, overrides)
