"""The checks of config values: each setting's type and range, tables, near misses.

Every problem of a source is collected (:class:`Problems`) and reported together, each
with its location, so a user fixes a file in one pass.
"""

from __future__ import annotations

import math
import os

# collections.abc costs ~1 ms to import; its private twin is loaded at startup by os.
from _collections_abc import Mapping

from lazyext._errors import ConfigError
from lazyext._settings import keys
from lazyext._settings.config import SETTING_KEYS
from lazyext._settings.secrets import redact

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, Final

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
_LIST_SETTINGS: Final = frozenset({"find-links", "extra-index-urls", "cache-read", "registry"})
#: Plain http is accepted for a registry on this machine only: elsewhere anyone on the
#: way could choose what `lazyext add` installs.
LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost", "[::1]")


class Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        # A bad index URL may carry credentials.
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


def check_setting(key: str, given: object, problems: Problems) -> Any:
    value: Any = given
    if key not in SETTING_KEYS:
        problems.add(key, f"unknown setting{did_you_mean(key, SETTING_KEYS)}")
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
        if key == "registry":
            registries = [_check_registry(item, problems) for item in items]
            return None if None in registries else items
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


def _check_link_mode(value: str, problems: Problems) -> str | None:
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


def _check_url_setting(key: str, value: str, problems: Problems) -> str | None:
    try:
        keys.check_text(value, key)
    except ConfigError as error:
        problems.add(key, str(error))
        return None
    if value.startswith("-"):
        problems.add(key, f"{value!r} looks like a command-line option")
        return None
    return value


def _check_registry(value: str, problems: Problems) -> str | None:
    """A registry is a local path or an https URL (http on this machine only)."""
    if _check_url_setting("registry", value, problems) is None:
        return None
    scheme, sep, rest = value.partition("://")
    if not sep:
        return value
    host = rest.partition("/")[0].rpartition("@")[2].lower()
    loopback = host.rsplit(":", 1)[0] if not host.startswith("[") else host.partition("]")[0] + "]"
    if scheme.lower() == "https" or (scheme.lower() == "http" and loopback in LOOPBACK_HOSTS):
        return value
    problems.add(
        "registry",
        f"{value!r}: a registry URL must be https:// (plain http only on this machine: "
        "127.0.0.1, localhost), or a local path",
    )
    return None


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """``"; did you mean 'cache-dir'?"`` for a near miss (``cache_dir``, ``pacakge``)."""
    import difflib  # a misspelt key only: difflib brings heapq and collections

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
                f"{key}: unknown setting{did_you_mean(key, types)} "
                f"(known: {', '.join(sorted(types))})"
            )
        elif not isinstance(value, expected) or (bool not in expected and isinstance(value, bool)):
            problems.append(f"{key}: expected {expected[0].__name__}, got {value!r}")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            problems.append(f"{key}: must not be negative, got {value!r}")
        else:
            values[key.replace("-", "_")] = value
    return values
