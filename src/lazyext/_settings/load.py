"""Find and load a configuration, through a compiled form kept in the cache.

Parsing a config costs ~50 ms (tomllib, packaging, hashlib); lazyext's warm path
budget is a few milliseconds. So the parsed and keyed result is stored, with
``marshal``, in ``<cache root>/compiled.marshal`` under a fingerprint of everything
it was computed from (the source or the file's identity and mtime, the overrides, the
environment variables lazyext reads, the interpreter). Only sources that parsed
without error are stored, so a hit is always a config that was validated.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys

# collections.abc costs ~1 ms to import; its private twin is loaded at startup by os.
from _collections_abc import Mapping

from lazyext import _columns
from lazyext._record import fields_of, from_columns
from lazyext._settings.config import (
    SCHEMA,
    Config,
    Extension,
    Plan,
    Settings,
    default_cache_root,
)
from lazyext._settings.names import EnvKey
from lazyext._trust import ensure_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, Final, TypeAlias

    ConfigSource: TypeAlias = (
        "str | os.PathLike[str] | Mapping[str, str] | Sequence[Extension] | None"
    )

_MEMO_NAME: Final = "compiled.marshal"
_MEMO_LIMIT: Final = 64
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
    memo_file = os.path.join(_bootstrap_root(overrides), _MEMO_NAME)
    memo = _read_memo(memo_file) if _trusted(os.path.dirname(memo_file)) else {}
    cached = memo.get(fingerprint)
    if cached is not None:
        try:
            # Values are marshalled on their own: loading the memo stays cheap however
            # many configs share the cache; only the one that matches is decoded.
            return _decode(_valid(marshal.loads(cached) if isinstance(cached, bytes) else cached))
        except (TypeError, ValueError, IndexError, EOFError):
            pass  # a memo from an older layout, or damaged: recompute below
    result = _parse(config, path, overrides)
    _write_memo(memo_file, memo, fingerprint, result)
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


def _trusted(root: str) -> bool:
    """A memo is used without revalidation: only from a root that passes the checks."""
    try:
        ensure_root(root)
    except (OSError, ValueError):  # ValueError: a NUL in the path (parsing reports it)
        return False
    return True


def _read_memo(memo_file: str) -> dict[str, Any]:
    # O_NONBLOCK: a FIFO planted here would block open() forever; it is refused below.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(memo_file, flags)
    except OSError:
        return {}
    try:
        with open(descriptor, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or not _private(info):
                return {}  # not a file, or someone else could have written it: parse again
            # loads(read()): marshal.load(file) reads piecemeal, ~10x slower (B1).
            memo = marshal.loads(handle.read())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return memo if isinstance(memo, dict) else {}


# -- the memo is data: every value is checked before it is used --------------------------
#
# A memo value decodes to ``(settings, plans, platform, source, tables, env_key)``; the
# plans are checked a column at a time (see :mod:`lazyext._columns`).

_SETTING_CHECKS: Final[dict[str, Callable[[Any], bool]]] = {
    "str": lambda value: _columns.strs([value]),
    "str | None": lambda value: _columns.optional_strs([value]),
    "bool": lambda value: type(value) is bool,
    "int": lambda value: type(value) is int,
    "float": lambda value: type(value) in (int, float),
    "tuple[str, ...]": lambda value: _columns.string_lists([value]),
}

#: One check per element of a plan in the memo (see _encode), in order, each given the
#: column of that element over every plan.
_PLAN_COLUMNS: Final[tuple[tuple[str, Callable[[Sequence[Any]], bool]], ...]] = (
    ("name", _columns.file_names),
    ("package", _columns.optional_strs),
    ("modules", _columns.module_lists),  # tuples (see _encode), as Extension keeps them
    ("enabled", lambda values: _columns.typed(values, bool)),
    ("arguments", lambda values: _columns.typed(values, dict)),
    ("hashes", lambda values: _columns.string_lists(values, kinds=(tuple,))),
    ("requirement", _columns.strs),
    ("dist", _columns.strs),
    ("specifier", _columns.strs),
    ("key", _columns.keys_or_empty),
    ("marker_ok", lambda values: _columns.typed(values, bool)),
)

#: One row per element of a memo value, in order.
_MEMO_FIELDS: Final[tuple[tuple[str, Callable[[Any], bool]], ...]] = (
    ("settings", lambda value: type(value) is tuple and len(value) == len(fields_of(Settings))),
    ("plans", lambda value: type(value) is tuple),
    ("platform", lambda value: _columns.file_names([value])),
    ("source", lambda value: _columns.strs([value])),
    ("tables", lambda value: type(value) is dict),
    ("env_key", lambda value: _columns.keys_or_empty([value])),
)


def _valid(data: object) -> tuple[Any, ...]:
    """``data`` if it is a well-formed memo value; ValueError (rebuild) if not."""
    if type(data) is not tuple or len(data) != len(_MEMO_FIELDS):
        raise ValueError("memo value: not a tuple of the expected length")
    for (name, check), value in zip(_MEMO_FIELDS, data, strict=True):
        if not check(value):
            raise ValueError(f"memo {name}: {value!r:.80} is not valid")
    annotations = Settings.__annotations__
    for name, value in zip(fields_of(Settings), data[0], strict=True):
        setting_check = _SETTING_CHECKS.get(annotations[name])
        if setting_check is None or not setting_check(value):
            raise ValueError(f"memo setting {name}: {value!r:.80} is not {annotations[name]}")
    if not os.path.isabs(data[0][0]):
        raise ValueError("memo setting cache_dir: not an absolute path")
    plans = _columns.rows(data[1], len(_PLAN_COLUMNS))
    columns = _columns.columns(plans, len(_PLAN_COLUMNS))
    for (name, column_check), column in zip(_PLAN_COLUMNS, columns, strict=True):
        if not column_check(column):
            raise ValueError(f"memo plan {name}: a value is not valid")
    if any(
        key == "" and package is not None
        for package, key in zip(columns[1], columns[9], strict=True)
    ):
        raise ValueError("memo plan: a package without a cache key")
    return data


def _write_memo(memo_file: str, memo: dict[str, Any], fingerprint: str, config: Config) -> None:
    """Best effort: a lost update only costs the next process one parse."""
    from lazyext._settings.secrets import secret_urls  # only on a memo miss

    if secret_urls(config.settings):
        return  # never on disk: a config with credentials is parsed in every process
    try:
        encoded = _encode(config)
        # Only a root that passed the safety checks holds a memo: a memo is trusted
        # without revalidation, so it must not be writable by anyone else.
        ensure_root(os.path.dirname(memo_file))
    except (ValueError, OSError, PermissionError):  # ConfigError is a ValueError
        return
    memo = dict(list(memo.items())[-(_MEMO_LIMIT - 1) :])
    memo[fingerprint] = marshal.dumps(encoded)
    # Unique per thread too; 0600: index URLs may carry credentials.
    temporary = f"{memo_file}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        with open(os.open(temporary, flags, 0o600), "wb") as handle:
            marshal.dump(memo, handle)
        os.replace(temporary, memo_file)
    except OSError:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def _private(info: os.stat_result) -> bool:
    """Owned by this user and writable by no one else (where POSIX says who)."""
    if not hasattr(os, "geteuid"):
        return True
    return info.st_uid == os.geteuid() and not info.st_mode & 0o022


def _encode(config: Config) -> tuple[Any, ...]:
    settings = tuple(getattr(config.settings, name) for name in fields_of(Settings))
    plans = tuple(
        (
            plan.extension.name,
            plan.extension.package,
            tuple(plan.extension.modules),
            plan.extension.enabled,
            dict(plan.extension.arguments),
            tuple(plan.extension.hashes),
            plan.requirement,
            plan.dist,
            plan.specifier,
            plan.key,
            plan.marker_ok,
        )
        for plan in config.plans
    )
    # No secrets on disk: [web] token stays out of the memo; lazyext.web reads it from
    # the config file when it needs it (lazyext.web._settings).
    tables = {
        n: {k: v for k, v in t.items() if (n, k) != ("web", "token")}
        for n, t in config.tables.items()
    }
    # marshal refuses what it cannot represent (datetimes in arguments, say): probe now.
    marshal.dumps((settings, plans, tables))
    return (settings, plans, config.platform, config.source, tables, config.env_key)


def _decode(data: tuple[Any, ...]) -> Config:
    raw_settings, raw_plans, platform, source, tables, env_key = data
    settings = Settings(**dict(zip(fields_of(Settings), raw_settings, strict=True)))
    # Validated values in their stored form (tuples where a field holds a tuple): records
    # built a column at a time, without __init__ (benchmarks B1 and B7).
    columns = _columns.columns(raw_plans, len(_PLAN_COLUMNS))
    extensions = from_columns(Extension, columns[:6])
    plans = from_columns(Plan, (extensions, *columns[6:]))
    return Config(
        settings=settings,
        plans=tuple(plans),
        platform=platform,
        source=source,
        tables=tables,
        env_key=EnvKey(str(env_key)),
    )
