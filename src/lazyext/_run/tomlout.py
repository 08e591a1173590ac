"""TOML text for a config lazyext writes itself (a script's, see :mod:`.prepare`).

The values are what ``tomllib`` read from config files (strings, numbers, booleans,
dates and times, arrays, tables), so a small writer covers them, and the first run of a
script does not import tomlkit (~40 ms) for it: ``tomllib.loads(dumps(table)) ==
table`` for every such table (tests/run/test_script_parts.py).
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping
from typing import Any

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def dumps(table: Mapping[str, Any]) -> str:
    """A TOML document for ``table``."""
    lines: list[str] = []
    _table(table, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(table: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    nested = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            nested.append((key, value, False))
        elif _array_of_tables(value):
            nested.append((key, value, True))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value, many in nested:
        header = ".".join(_key(part) for part in [*path, key])
        for item in value if many else [value]:
            lines.append("")
            lines.append(f"[[{header}]]" if many else f"[{header}]")
            _table(item, [*path, key], lines)


def _array_of_tables(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _key(key: str) -> str:
    return key if key and set(key) <= _BARE else _string(key)


def _string(text: str) -> str:
    # JSON's escapes are TOML's (\uXXXX for control characters); non-ASCII stays as is.
    return json.dumps(text, ensure_ascii=False)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {type(value).__name__} {value!r}")
