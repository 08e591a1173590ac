"""Parse and validate configuration sources into a :class:`~lazyext._settings.config.Config`.

Every problem of a source is collected and reported together, each with its location
(``lazyext.toml: extensions[2] (name='yaml'): package: ...``), so a user fixes a file
in one pass. It runs only when the
compiled form cached by :mod:`.load` does not match.
"""

from __future__ import annotations

import os

# collections.abc costs ~1 ms to import; its private twin is loaded at startup by os.
from _collections_abc import Mapping

from lazyext._errors import ConfigError
from lazyext._record import replace
from lazyext._settings import keys
from lazyext._settings.checks import Problems, check_setting, did_you_mean
from lazyext._settings.config import (
    SETTING_KEYS,
    Config,
    Extension,
    Plan,
    Settings,
    default_cache_root,
    env_flag,
)
from lazyext._settings.names import DistName, ReqKey
from lazyext._trust import real_if_trusted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Final

_EXTENSION_KEYS: Final = frozenset({"name", "package", "modules", "enabled", "arguments", "hashes"})
#: Tables other parts of lazyext own (plugins, maintenance); passed through as data.
_TABLES: Final = frozenset({"plugins", "maintenance", "tasks", "web"})


def parse_file(path: str, overrides: Mapping[str, Any]) -> Config:
    """Parse ``lazyext.toml`` (top level) or ``pyproject.toml`` (``[tool.lazyext]``)."""
    import tomllib  # a config file only: ~10 ms with the re it brings

    source = path
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(
            f"{source}: cannot read the config file: {error}", source=source
        ) from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{source}: not valid TOML: {error}", source=source) from error
    table: object = document
    if os.path.basename(path) == "pyproject.toml":
        tool = document.get("tool", {})
        table = tool.get("lazyext", {}) if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [tool.lazyext] must be a table", source=source)
    return parse_table(table, source=source, base=os.path.dirname(path), overrides=overrides)


def parse_table(
    table: Mapping[str, Any], *, source: str, base: str, overrides: Mapping[str, Any]
) -> Config:
    problems = Problems(source)
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
                key, f"unknown setting{did_you_mean(key, known)} (see README: Configuration)"
            )
    settings = _settings(raw_settings, base, overrides, problems)
    extensions = _extensions_from_table(table.get("extensions", []), problems)
    plans = _plans(extensions, settings, problems)
    problems.raise_if_any()
    return _keyed(
        Config(
            settings=settings,
            plans=plans,
            platform=keys.platform_tag(),
            source=source,
            tables=tables,
        )
    )


def parse_objects(
    config: Mapping[str, str] | Sequence[Extension] | None, overrides: Mapping[str, Any]
) -> Config:
    """A mapping ``{import name: requirement}``, a sequence of Extension, or nothing."""
    source = "<mapping>" if isinstance(config, Mapping) else "<extensions>"
    problems = Problems(source if config is not None else "<defaults>")
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
    settings = _settings({}, os.getcwd(), overrides, problems)
    plans = _plans(extensions, settings, problems)
    problems.raise_if_any()
    return _keyed(
        Config(settings=settings, plans=plans, platform=keys.platform_tag(), source=problems.source)
    )


def _keyed(config: Config) -> Config:
    """``config`` with the key of its environment (computed once, kept in the memo)."""
    plans = [
        (plan.key, plan.requirement)
        for plan in config.plans
        if plan.extension.package is not None and plan.extension.enabled and plan.marker_ok
    ]
    return replace(config, env_key=keys.environment_key(plans, config.settings, config.platform))


def _settings(
    raw: Mapping[str, Any], base: str, overrides: Mapping[str, Any], problems: Problems
) -> Settings:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        checked = check_setting(key, value, problems)
        if checked is not None:
            values[key.replace("-", "_")] = checked
    # Paths written in the file are relative to the file; those from the environment
    # or keyword arguments are the caller's, relative to the working directory.
    _resolve_paths(values, base, problems)
    _apply_environment(values)
    for key, value in overrides.items():
        if value is not None:
            checked = check_setting(key.replace("_", "-"), value, problems)
            if checked is not None:
                values[key] = checked
    _resolve_paths(values, os.getcwd(), problems)
    cache_dir = values.pop("cache_dir", None)
    root = str(cache_dir) if cache_dir else default_cache_root()
    return Settings(cache_dir=real_if_trusted(root), **values)


def _resolve_paths(values: dict[str, Any], base: str, problems: Problems) -> None:
    """Make ``cache_dir`` and local ``find_links`` absolute against ``base`` (idempotent)."""
    if values.get("lock"):
        values["lock"] = _absolute(values["lock"], base)
    if values.get("cache_dir"):
        try:
            keys.check_text(str(values["cache_dir"]), "cache-dir", keys.MAX_PATH)
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
        values["cache_read"] = tuple(_absolute(layer, base) for layer in values["cache_read"])
    if values.get("registry"):  # local files relative to the config file; URLs as they are
        values["registry"] = tuple(
            item if "://" in item else _absolute(item, base) for item in values["registry"]
        )


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


def _absolute(value: Any, base: str, *, real: bool = True) -> str:
    path = os.path.join(base, os.path.expanduser(os.fspath(value)))
    return os.path.realpath(path) if real else path


def _link(link: str, base: str) -> str:
    keys.check_text(link, "find-links entry", keys.MAX_PATH)
    if link.startswith("-"):
        # uv reads an argument after --find-links that starts with '-' as an option.
        raise ConfigError(
            f"find-links entry {link!r} looks like a command-line option (write ./{link} "
            "for a directory of that name)"
        )
    if "://" in link:
        return link
    return _absolute(link, base)


def _extensions_from_table(raw: object, problems: Problems) -> list[Extension]:
    if isinstance(raw, dict):
        return _extensions_from_mapping(raw, problems)
    if not isinstance(raw, list):
        problems.add(
            "extensions",
            'expected an array of tables ([[extensions]]) or a table of name = "requirement"',
        )
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


def _extensions_from_mapping(raw: Mapping[str, Any], problems: Problems) -> list[Extension]:
    """The short form: ``[extensions]`` with ``yaml = "PyYAML>=6"`` (the mapping that
    ``activate()`` takes) or ``yaml = { package = "PyYAML>=6", modules = [...] }``; the
    key is the extension's name, and its import name unless ``modules`` says otherwise."""
    extensions = []
    for name, value in raw.items():
        where = f"extensions.{name}"
        if isinstance(value, str):
            item: dict[str, Any] = {"name": name, "package": value}
        elif isinstance(value, dict):
            if "name" in value:
                problems.add(f"{where}: name", "the key is the name; remove this one")
                continue
            item = {"name": name, **value}
        else:
            problems.add(where, "expected a requirement string or a table")
            continue
        extension = _extension_from_item(item, where, problems)
        if extension is not None:
            extensions.append(extension)
    return extensions


def _extension_from_item(
    item: Mapping[str, Any], where: str, problems: Problems
) -> Extension | None:
    before = len(problems.items)
    for key in item:
        if key not in _EXTENSION_KEYS:
            problems.add(f"{where}: {key}", f"unknown key{did_you_mean(key, _EXTENSION_KEYS)}")
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


def _plans(extensions: list[Extension], settings: Settings, problems: Problems) -> tuple[Plan, ...]:
    plans: list[Plan] = []
    owners: dict[str, str] = {}
    names: set[str] = set()
    for extension in extensions:
        where = f"extension {extension.name!r}"
        try:
            keys.check_extension_name(extension.name)
            for module in extension.modules:
                keys.check_module_name(module)
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
                plans.append(make_plan(extension, settings))
            else:
                plans.append(
                    Plan(extension, requirement="", dist=DistName(""), specifier="", key=ReqKey(""))
                )
        except ConfigError as error:
            problems.add(where, str(error))
    return tuple(plans)


def make_plan(extension: Extension, settings: Settings) -> Plan:
    assert extension.package is not None
    canonical, dist, specifier = keys.canonical_requirement(
        extension.package, allow_direct_urls=settings.allow_direct_urls
    )
    hashes = keys.check_hashes(extension.hashes, canonical)
    key = keys.requirement_key(canonical, settings, hashes)
    return Plan(
        extension=extension,
        requirement=canonical,
        dist=dist,
        specifier=specifier,
        key=key,
        marker_ok=keys.marker_ok(canonical),
    )
