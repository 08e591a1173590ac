"""The ``[maintenance]`` table: durations, sizes, and what the built-in tasks and the
cache's opportunistic collection (:mod:`lazyext._env.upkeep`) do and how often.

A setting like any other, so below every stage that reads it: ``lazyext.tasks`` runs
the tasks, the environment stage collects after an install. Imports ``re``: only where
the table is read (a scheduler, ``lazyext gc``, a process exiting after an install).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from lazyext._errors import ConfigError
from lazyext._record import fields_of, record

if TYPE_CHECKING:
    from lazyext._settings.config import Config

_UNITS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZES: Final = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_NUMBER: Final = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]?)(?:i?b)?\s*$", re.I)


@record
class Maintenance:
    """The validated ``[maintenance]`` table (durations in seconds, sizes in bytes)."""

    enabled: bool = True
    refresh_every: float = 3600.0
    gc_every: float = 86400.0
    warm_every: float = 21600.0
    health_every: float = 86400.0
    gc_grace: float = 3600.0
    unused_days: float = 30.0
    max_size: int = 0
    health_timeout: float = 60.0
    election_interval: float = 10.0


def parse_duration(value: object, *, what: str = "duration") -> float:
    """``90``, ``"90s"``, ``"5m"``, ``"2h"``, ``"1d"``, ``"1w"`` -> seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expected a duration like 30s, 5m, 2h or 1d, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _NUMBER.match(str(value))
        unit = match.group(2).lower() if match else ""
        if match is None or unit not in _UNITS:
            raise ConfigError(f"{what}: expected a duration like 30s, 5m, 2h or 1d, not {value!r}")
        seconds = float(match.group(1)) * _UNITS[unit]
    if seconds < 0:
        raise ConfigError(f"{what}: must not be negative ({value!r})")
    return seconds


def parse_size(value: object, *, what: str = "size") -> int:
    """``1048576``, ``"500M"``, ``"2G"``, ``"1.5GiB"`` -> bytes."""
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expected a size like 500M or 2G, not {value!r}")
    if isinstance(value, int | float):
        size = float(value)
    else:
        match = _NUMBER.match(str(value))
        unit = match.group(2).lower() if match else ""
        if match is None or unit not in _SIZES:
            raise ConfigError(f"{what}: expected a size like 500M or 2G, not {value!r}")
        size = float(match.group(1)) * _SIZES[unit]
    if size < 0:
        raise ConfigError(f"{what}: must not be negative ({value!r})")
    return int(size)


def settings_of(config: Config) -> Maintenance:
    """Validate ``[maintenance]``; every problem is reported at once."""
    table = dict(config.tables.get("maintenance", {}))
    values: dict[str, Any] = {}
    problems: list[str] = []
    parsers: dict[str, Any] = {
        "enabled": _boolean,
        "unused-days": _days,
        "max-size": parse_size,
    }
    known = {name.replace("_", "-") for name in fields_of(Maintenance)}
    for key, value in table.items():
        if key not in known:
            problems.append(
                f"[maintenance] {key}: unknown setting; known: {', '.join(sorted(known))}"
            )
            continue
        parse = parsers.get(key, parse_duration)
        try:
            values[key.replace("-", "_")] = parse(value, what=f"[maintenance] {key}")
        except ConfigError as error:
            problems.append(str(error))
    for key in ("health_timeout", "election_interval"):
        if key in values and values[key] <= 0:
            problems.append(f"[maintenance] {key.replace('_', '-')}: must be positive")
    if problems:
        raise ConfigError(
            f"{config.source}: " + "; ".join(problems),
            problems=tuple(problems),
            source=config.source,
        )
    return Maintenance(**values)


def _boolean(value: object, *, what: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{what}: expected true or false, not {value!r}")
    return value


def _days(value: object, *, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{what}: expected a number of days >= 0, not {value!r}")
    return float(value)
