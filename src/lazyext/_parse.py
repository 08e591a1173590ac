"""Parse and validate configuration sources into a :class:`~lazyext._config.Config`.

Every problem of a source is collected and reported together, each with its location
(``lazyext.toml: extensions[2] (name='yaml'): package: ...``), so a user fixes a file
in one pass. This module imports ``tomllib`` and ``packaging``; it runs only when the
compiled form cached by :mod:`lazyext._load` does not match.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from lazyext import _keys
from lazyext._config import SETTING_KEYS, Config, Extension, Plan, Settings, env_flag
from lazyext._errors import ConfigError

_EXTENSION_KEYS: Final = frozenset({"name", "package", "modules", "enabled", "arguments", "hashes"})
_BOOL_SETTINGS: Final = frozenset(
    {"offline", "no-index", "allow-sdist", "allow-direct-urls", "strict-pth", "trust-group"}
)
_NUMBER_SETTINGS: Final = frozenset({"ttl-hours", "install-timeout", "lock-timeout", "failure-ttl"})
_INT_SETTINGS: Final = frozenset({"retries", "parallel"})
_STR_SETTINGS: Final = frozenset({"cache-dir", "index-url", "link-mode", "lock", "expired"})
#: uv's link modes lazyext allows (README: Link mode); unset means uv's default.
LINK_MODES: Final = ("clone", "copy", "hardlink")
#: What the first use of an expired environment does (README: TTL).
EXPIRED_POLICIES: Final = ("refresh-in-background", "reinstall", "serve")
_LIST_SETTINGS: Final = frozenset({"find-links", "extra-index-urls", "cache-read"})
#: Tables other parts of lazyext own (plugins, maintenance); passed through as data.
_TABLES: Final = frozenset({"plugins", "maintenance", "tasks", "web"})


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        from lazyext._secrets import redact  # a bad index URL may carry credentials

        self.items.append(redact(f"{where}: {message}" if where else message))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        if len(self.items) == 1:
            message = f"{self.source}: {self.items[0]}"
        else:
            listing = "\n".join(f"  - {item}" for item in self.items)
            message = f"{self.source}: {len(self.items)} problems:\n{listing}"
        raise ConfigError(message, problems=tuple(self.items), source=self.source)


def parse_file(path: Path, overrides: Mapping[str, Any]) -> Config:
    """Parse ``lazyext.toml`` (top level) or ``pyproject.toml`` (``[tool.lazyext]``)."""
    import tomllib

    source = str(path)
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(
            f"{source}: cannot read the config file: {error}", source=source
        ) from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{source}: not valid TOML: {error}", source=source) from error
    table: object = document
    if path.name == "pyproject.toml":
        tool = document.get("tool", {})
        table = tool.get("lazyext", {}) if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [tool.lazyext] must be a table", source=source)
    return parse_table(table, source=source, base=path.parent, overrides=overrides)


def parse_table(
    table: Mapping[str, Any], *, source: str, base: Path, overrides: Mapping[str, Any]
) -> Config:
    problems = _Problems(source)
    raw_settings = {k: v for k, v in table.items() if k in SETTING_KEYS}
    tables: dict[str, Mapping[str, Any]] = {}
    for key, value in table.items():
        if key in SETTING_KEYS or key == "extensions":
            continue
        if key in _TABLES and isinstance(value, dict):
            tables[key] = value
        elif key == "tool" and isinstance(value, dict) and "lazyext" in value:
            problems.add(
                key,
                "a [tool.lazyext] table is read from pyproject.toml only; in this file write "
                "its settings at the top level (cache-dir = ..., [[extensions]]), or move the "
                "table to pyproject.toml",
            )
        else:
            known = (*SETTING_KEYS, "extensions", *_TABLES)
            problems.add(
                key, f"unknown setting{_did_you_mean(key, known)} (see README: Configuration)"
            )
    settings = _settings(raw_settings, base, overrides, problems)
    extensions = _extensions_from_table(table.get("extensions", []), problems)
    plans = _plans(extensions, settings, problems)
    problems.raise_if_any()
    return _keyed(
        Config(
            settings=settings,
            plans=plans,
            platform=_keys.platform_tag(),
            source=source,
            tables=tables,
        )
    )


def parse_objects(
    config: Mapping[str, str] | Sequence[Extension] | None, overrides: Mapping[str, Any]
) -> Config:
    """A mapping ``{import name: requirement}``, a sequence of Extension, or nothing."""
    source = "<mapping>" if isinstance(config, Mapping) else "<extensions>"
    problems = _Problems(source if config is not None else "<defaults>")
    extensions: list[Extension] = []
    if isinstance(config, Mapping):
        for module, requirement in config.items():
            extensions.append(Extension(name=str(module), package=requirement, modules=(module,)))
    elif config is not None:
        for index, item in enumerate(config):
            if not isinstance(item, Extension):
                problems.add(f"[{index}]", f"expected lazyext.Extension, got {type(item).__name__}")
                continue
            extensions.append(item)
    settings = _settings({}, Path.cwd(), overrides, problems)
    plans = _plans(extensions, settings, problems)
    problems.raise_if_any()
    return _keyed(
        Config(
            settings=settings, plans=plans, platform=_keys.platform_tag(), source=problems.source
        )
    )


def _keyed(config: Config) -> Config:
    """``config`` with the key of its environment (computed once, kept in the memo)."""
    from lazyext._record import replace

    plans = [
        (plan.key, plan.requirement)
        for plan in config.plans
        if plan.extension.package is not None and plan.extension.enabled and plan.marker_ok
    ]
    return replace(config, env_key=_keys.environment_key(plans, config.settings, config.platform))


def _settings(
    raw: Mapping[str, Any], base: Path, overrides: Mapping[str, Any], problems: _Problems
) -> Settings:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        checked = _check_setting(key, value, problems)
        if checked is not None:
            values[key.replace("-", "_")] = checked
    # Paths written in the file are relative to the file; those from the environment
    # or keyword arguments are the caller's, relative to the working directory.
    _resolve_paths(values, base, problems)
    _apply_environment(values)
    for key, value in overrides.items():
        if value is not None:
            checked = _check_setting(key.replace("_", "-"), value, problems)
            if checked is not None:
                values[key] = checked
    _resolve_paths(values, Path.cwd(), problems)
    cache_dir = values.pop("cache_dir", None)
    from lazyext._config import default_cache_root
    from lazyext._trust import real_if_trusted

    root = str(cache_dir) if cache_dir else default_cache_root()
    return Settings(cache_dir=real_if_trusted(root), **values)


def _resolve_paths(values: dict[str, Any], base: Path, problems: _Problems) -> None:
    """Make ``cache_dir`` and local ``find_links`` absolute against ``base`` (idempotent)."""
    if values.get("lock"):
        values["lock"] = str(_absolute(values["lock"], base))
    if values.get("cache_dir"):
        try:
            _keys.check_text(str(values["cache_dir"]), "cache-dir", _keys.MAX_PATH)
        except ConfigError as error:
            problems.add("cache-dir", str(error))
            values.pop("cache_dir")
        else:  # links are resolved, and checked, by real_if_trusted (see _settings)
            values["cache_dir"] = os.path.abspath(_absolute(values["cache_dir"], base, real=False))
    links = []
    for link in values.get("find_links", ()):
        try:
            links.append(_link(link, base))
        except ConfigError as error:
            problems.add("find-links", str(error))
    values["find_links"] = tuple(links)
    if values.get("cache_read"):
        values["cache_read"] = tuple(str(_absolute(layer, base)) for layer in values["cache_read"])


def _apply_environment(values: dict[str, Any]) -> None:
    """Environment variables win over the file; explicit arguments win over both."""
    cache = os.environ.get("LAZYEXT_CACHE_DIR")
    if cache:
        values["cache_dir"] = cache
    layers = os.environ.get("LAZYEXT_CACHE_READ")
    if layers:
        values["cache_read"] = tuple(layer for layer in layers.split(os.pathsep) if layer)
    # uv's own UV_OFFLINE is honoured (never silently dropped on the way to uv);
    # LAZYEXT_OFFLINE, lazyext's own, wins when both are set.
    offline = env_flag("LAZYEXT_OFFLINE")
    if offline is None:
        offline = env_flag("UV_OFFLINE") or None
    if offline is not None:
        values["offline"] = offline
    # uv's own index variables are not passed to uv (lazyext builds its environment on
    # purpose); they are read here instead, so they enter the cache key.
    if "index_url" not in values:
        index = os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL")
        if index:
            values["index_url"] = index
    if "extra_index_urls" not in values and os.environ.get("UV_EXTRA_INDEX_URL"):
        values["extra_index_urls"] = tuple(os.environ["UV_EXTRA_INDEX_URL"].split())


def _check_setting(key: str, given: object, problems: _Problems) -> Any:
    value: Any = given
    if key not in SETTING_KEYS:
        problems.add(key, f"unknown setting{_did_you_mean(key, SETTING_KEYS)}")
        return None
    expected: type | tuple[type, ...]
    if key in _BOOL_SETTINGS:
        expected = bool
    elif key in _NUMBER_SETTINGS:
        expected = (int, float)
    elif key in _INT_SETTINGS:
        expected = int
    elif key in _STR_SETTINGS:
        expected = (str, os.PathLike)
    else:
        expected = (list, tuple)
    if not isinstance(given, expected) or (expected is not bool and isinstance(given, bool)):
        problems.add(key, f"expected {_describe(expected)}, got {type(value).__name__} {value!r}")
        return None
    if key in _LIST_SETTINGS:
        if not all(isinstance(item, (str, os.PathLike)) for item in value):
            problems.add(key, "expected a list of strings")
            return None
        items = tuple(str(item) for item in value)
        if key == "extra-index-urls":
            checked = [_check_url_setting(key, item, problems) for item in items]
            return None if None in checked else items
        return items
    if key in _NUMBER_SETTINGS and not math.isfinite(value):
        problems.add(key, f"must be a finite number, got {value!r}")
        return None
    if key in _NUMBER_SETTINGS | _INT_SETTINGS and value < 0:
        problems.add(key, f"must not be negative, got {value!r}")
        return None
    if key == "index-url":
        return _check_url_setting(key, str(value), problems)
    if key == "expired" and value not in EXPIRED_POLICIES:
        problems.add(key, f"expected one of {', '.join(EXPIRED_POLICIES)}, got {value!r}")
        return None
    if key == "link-mode":
        return _check_link_mode(str(value), problems)
    return float(value) if key in _NUMBER_SETTINGS else value


def _check_link_mode(value: str, problems: _Problems) -> str | None:
    if value in LINK_MODES:
        return value
    why = (
        "symlinks into uv's cache would make every install change with that cache "
        "(uv cache clean, or another environment's edit, breaks or rewrites it)"
        if value == "symlink"
        else f"unknown link mode {value!r}"
    )
    problems.add("link-mode", f"{why}; use one of {', '.join(LINK_MODES)}, or leave it unset")
    return None


def _check_url_setting(key: str, value: str, problems: _Problems) -> str | None:
    try:
        _keys.check_text(value, key)
    except ConfigError as error:
        problems.add(key, str(error))
        return None
    if value.startswith("-"):
        problems.add(key, f"{value!r} looks like a command-line option")
        return None
    return value


def _did_you_mean(key: str, known: Iterable[str]) -> str:
    """``"; did you mean 'cache-dir'?"`` for a near miss (``cache_dir``, ``pacakge``)."""
    import difflib

    spelled = key.replace("_", "-").lower()
    candidates = {name.replace("_", "-").lower(): name for name in known}
    if spelled in candidates and candidates[spelled] != key:
        return f"; did you mean {candidates[spelled]!r}?"
    close = difflib.get_close_matches(spelled, list(candidates), n=1, cutoff=0.7)
    return f"; did you mean {candidates[close[0]]!r}?" if close else ""


def _describe(expected: type | tuple[type, ...]) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", str: "a string"}
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(dict.fromkeys(names.get(t, "a list") for t in types))


def _absolute(value: Any, base: Path, *, real: bool = True) -> Path:
    path = Path(os.path.expanduser(str(value)))
    path = path if path.is_absolute() else base / path
    return Path(os.path.realpath(path)) if real else path


def _link(link: str, base: Path) -> str:
    _keys.check_text(link, "find-links entry", _keys.MAX_PATH)
    if link.startswith("-"):
        # uv reads an argument after --find-links that starts with '-' as an option.
        raise ConfigError(
            f"find-links entry {link!r} looks like a command-line option (write ./{link} "
            "for a directory of that name)"
        )
    if "://" in link:
        return link
    return str(_absolute(link, base))


def _extensions_from_table(raw: object, problems: _Problems) -> list[Extension]:
    if not isinstance(raw, list):
        problems.add("extensions", "expected an array of tables ([[extensions]])")
        return []
    extensions = []
    for index, item in enumerate(raw):
        where = f"extensions[{index}]"
        if not isinstance(item, dict):
            problems.add(where, "expected a table")
            continue
        if isinstance(item.get("name"), str):
            where += f" (name={item['name']!r})"
        extension = _extension_from_item(item, where, problems)
        if extension is not None:
            extensions.append(extension)
    return extensions


def _extension_from_item(
    item: Mapping[str, Any], where: str, problems: _Problems
) -> Extension | None:
    before = len(problems.items)
    for key in item:
        if key not in _EXTENSION_KEYS:
            problems.add(f"{where}: {key}", f"unknown key{_did_you_mean(key, _EXTENSION_KEYS)}")
    name = item.get("name")
    if not isinstance(name, str):
        problems.add(f"{where}: name", "required, a string")
    package = item.get("package")
    if package is not None and not isinstance(package, str):
        problems.add(f"{where}: package", f"expected a string, got {type(package).__name__}")
    modules = item.get("modules", [])
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        problems.add(f"{where}: modules", "expected a list of import names")
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.add(f"{where}: enabled", "expected true or false")
    arguments = item.get("arguments", {})
    if not isinstance(arguments, dict):
        problems.add(f"{where}: arguments", "expected a table")
    hashes = item.get("hashes", [])
    if not isinstance(hashes, list):
        problems.add(f"{where}: hashes", "expected a list of 'sha256:<hex>' strings")
    if len(problems.items) > before:
        return None
    return Extension(
        name=str(name),
        package=package,
        modules=tuple(modules),
        enabled=enabled,
        arguments=arguments,
        hashes=tuple(hashes),
    )


def _plans(
    extensions: list[Extension], settings: Settings, problems: _Problems
) -> tuple[Plan, ...]:
    plans: list[Plan] = []
    owners: dict[str, str] = {}
    names: set[str] = set()
    for extension in extensions:
        where = f"extension {extension.name!r}"
        try:
            _keys.check_extension_name(extension.name)
            for module in extension.modules:
                _keys.check_module_name(module)
                if module in owners and owners[module] != extension.name:
                    raise ConfigError(
                        f"module {module!r} is claimed by both {owners[module]!r} and "
                        f"{extension.name!r}"
                    )
                owners[module] = extension.name
            if extension.name in names:
                raise ConfigError("configured twice; extension names must be unique")
            names.add(extension.name)
            if extension.package is not None:
                plans.append(_plan(extension, settings))
            else:
                plans.append(Plan(extension, requirement="", dist="", specifier="", key=""))
        except ConfigError as error:
            problems.add(where, str(error))
    return tuple(plans)


def _plan(extension: Extension, settings: Settings) -> Plan:
    assert extension.package is not None
    canonical, dist, specifier = _keys.canonical_requirement(
        extension.package, allow_direct_urls=settings.allow_direct_urls
    )
    hashes = _keys.check_hashes(extension.hashes, canonical)
    key = _keys.cache_key(canonical, settings.install_fingerprint(), hashes)
    return Plan(
        extension=extension,
        requirement=canonical,
        dist=dist,
        specifier=specifier,
        key=key,
        marker_ok=_keys.marker_ok(canonical),
    )


def check_table(
    table: Mapping[str, Any], types: Mapping[str, tuple[type, ...]], problems: list[str]
) -> dict[str, Any]:
    """Type-check one config table (``[plugins]``, ``[web]``) against ``types``.

    Returns the valid values keyed by attribute name (dashes to underscores) and adds
    one problem per unknown key, wrong type (``true`` is not a number) or negative
    number, so a table's problems are all reported together.
    """
    values: dict[str, Any] = {}
    for key, value in table.items():
        expected = types.get(key)
        if expected is None:
            problems.append(
                f"{key}: unknown setting{_did_you_mean(key, types)} "
                f"(known: {', '.join(sorted(types))})"
            )
        elif not isinstance(value, expected) or (bool not in expected and isinstance(value, bool)):
            problems.append(f"{key}: expected {expected[0].__name__}, got {value!r}")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            problems.append(f"{key}: must not be negative, got {value!r}")
        else:
            values[key.replace("-", "_")] = value
    return values
