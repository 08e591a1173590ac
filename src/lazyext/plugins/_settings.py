"""The ``[plugins]`` table of the config, validated.

```toml
[plugins]
directory = "plugins"            # default: <data dir>/plugins; relative to the config file
auto-enable = true               # start() enables what was enabled before, and follows
                                 # enable/disable/upgrade done by other processes
hot-reload = false               # reload a plugin when its files change
reload-interval = 1.0            # seconds between polls of the files and the state
reload-debounce = 0.5            # a change must rest this long before it is reloaded
validate-in-subprocess = false   # import a plugin in a child process before enabling it
validate-timeout = 30            # seconds the child may take
max-archive-bytes = 104857600    # what one plugin may unpack to
keep-snapshots = 10              # snapshots kept per plugin (oldest removed first)
[plugins.arguments.my-plugin]    # handed to the plugin's entry object
greeting = "hello"
```

An extension whose ``name`` is a plugin's id contributes its ``arguments`` too (the
``[plugins.arguments]`` table wins key by key).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lazyext._errors import ConfigError
from lazyext._settings.checks import check_table
from lazyext._settings.config import Config, default_data_root
from lazyext._trust import real_if_trusted

_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "directory": (str,),
    "auto-enable": (bool,),
    "hot-reload": (bool,),
    "reload-interval": (int, float),
    "reload-debounce": (int, float),
    "validate-in-subprocess": (bool,),
    "validate-timeout": (int, float),
    "max-archive-bytes": (int,),
    "keep-snapshots": (int,),
    "arguments": (dict,),
}


@dataclass(frozen=True, slots=True)
class PluginSettings:
    directory: str
    auto_enable: bool = True
    hot_reload: bool = False
    reload_interval: float = 1.0
    reload_debounce: float = 0.5
    validate_in_subprocess: bool = False
    validate_timeout: float = 30.0
    max_archive_bytes: int = 100 * 1024 * 1024
    keep_snapshots: int = 10
    arguments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def plugin_settings(config: Config, overrides: Mapping[str, Any]) -> PluginSettings:
    """Settings from ``config.tables["plugins"]``, keyword ``overrides`` winning."""
    table = dict(config.tables.get("plugins", {}))
    where = f"{config.source}: [plugins]"
    problems: list[str] = []
    values = check_table(table, _TYPES, problems)
    arguments = _arguments(config, values.pop("arguments", {}), problems)
    if problems:
        listing = "; ".join(problems)
        raise ConfigError(f"{where}: {listing}", problems=tuple(problems), source=config.source)
    values.update({k: v for k, v in overrides.items() if v is not None and k != "arguments"})
    for key, value in dict(overrides.get("arguments") or {}).items():
        arguments[key] = {**arguments.get(key, {}), **value}
    values["directory"] = _directory(values.get("directory"), config.source)
    for key in ("reload_interval", "reload_debounce", "validate_timeout"):
        if key in values:
            values[key] = float(values[key])
    return PluginSettings(arguments=arguments, **values)


def _arguments(
    config: Config, table: Mapping[str, Any], problems: list[str]
) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {
        plan.name: dict(plan.extension.arguments) for plan in config.plans
    }
    for plugin_id, value in table.items():
        if not isinstance(value, dict):
            problems.append(f"arguments.{plugin_id}: expected a table")
            continue
        merged[plugin_id] = {**merged.get(plugin_id, {}), **value}
    return {key: value for key, value in merged.items() if value}


def _directory(value: object, source: str) -> str:
    if value is None:
        return os.path.join(default_data_root(), "plugins")
    path = os.path.expanduser(str(value))
    if not os.path.isabs(path):
        base = os.path.dirname(source) if source.endswith(".toml") else os.getcwd()
        path = os.path.join(base, path)
    return real_if_trusted(path)  # a link that fails the rule is named when it is used
