"""``json.dumps(value, indent=2, sort_keys=True)`` for plain data, without ``json``.

Every install writes ``entry.json`` (its metadata for people and tools). Importing
``json`` brings ``re``, ``enum``, ``collections`` and ``functools`` with it: ~5 ms of
the first import of an uncached extension (benchmarks/README.md, "Cold path
profile"), where nothing else needs them. Strings are quoted by ``_json``, the C
helper behind ``json`` itself; where it is missing, ``json`` does all of it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_INFINITY = float("inf")


def dumps(value: object) -> str:
    """The text ``json.dumps(value, indent=2, sort_keys=True)`` gives for dicts (str
    keys), lists, tuples, str, int, finite float, bool and None; TypeError/ValueError
    for anything else."""
    try:
        from _json import encode_basestring_ascii as quote
    except ImportError:  # pragma: no cover (CPython has it)
        import json

        return json.dumps(value, indent=2, sort_keys=True, allow_nan=False)
    return _encode(value, quote, "")


def _encode(value: object, quote: Callable[[str], str], indent: str) -> str:
    if isinstance(value, str):
        return quote(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if not -_INFINITY < value < _INFINITY:  # NaN and infinities
            raise ValueError(f"{value!r} is not JSON")
        return float.__repr__(value)
    inner = indent + "  "
    if isinstance(value, dict):
        if not value:
            return "{}"
        keys = sorted(value)
        if not all(isinstance(key, str) for key in keys):
            raise TypeError("JSON object keys must be strings")
        items = (f"{inner}{quote(key)}: {_encode(value[key], quote, inner)}" for key in keys)
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = (inner + _encode(item, quote, inner) for item in value)
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
