"""Checks of data read back from the cache, a column at a time.

The compiled config (``compiled.marshal``) and a stored environment (``env.marshal``)
are data that someone with write access to the cache could have changed, so every
value is checked before use (DESIGN.md, Trust). They are read on the warm path of
every process, with one row per configured extension or locked distribution, so each
check takes all the values of one field at once and runs in C (``set(map(type, ...))``,
``str.join``, ``frozenset.issuperset``): a per-value Python check costs microseconds
per extension (benchmarks B1 and B7).

Each function returns whether every value in ``values`` is valid.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Final

STR_LIMIT: Final = 4096
_HEX: Final = frozenset("0123456789abcdef")
_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def typed(values: Sequence[object], *types: type) -> bool:
    """Each value is exactly of one of ``types`` (no subclasses)."""
    return set(map(type, values)) <= set(types)


def strs(values: Sequence[Any]) -> bool:
    """Strings of at most 4096 characters, without NUL."""
    return (
        typed(values, str)
        and max(map(len, values), default=0) <= STR_LIMIT
        and "\0" not in "".join(values)
    )


def keys(values: Sequence[Any], *, shortest: int = 32) -> bool:
    """Cache keys: they name directories, so ``^[0-9a-f]{shortest,64}$`` and nothing else."""
    return typed(values, str) and (
        not values
        or (
            shortest <= min(map(len, values))
            and max(map(len, values)) <= 64
            and _HEX.issuperset("".join(values))
        )
    )


def keys_or_empty(values: Sequence[Any], *, shortest: int = 32) -> bool:
    """Cache keys, or ``""`` where there is none."""
    return keys([value for value in values if value != ""], shortest=shortest)


def file_names(values: Sequence[Any]) -> bool:
    """Names safe as one path component: letters, digits, ``._-``; no ``..``, not hidden."""
    if not typed(values, str):
        return False
    if not values:
        return True
    joined = "\0" + "\0".join(values)
    return (
        min(map(len, values)) > 0
        and max(map(len, values)) <= 200
        and _NAME_CHARS.issuperset(joined.replace("\0", ""))
        and ".." not in joined
        and "\0." not in joined
    )


def string_lists(values: Sequence[Any], *, kinds: tuple[type, ...] = (tuple, list)) -> bool:
    """Tuples or lists of strings (see :func:`strs`)."""
    return typed(values, *kinds) and strs([item for value in values for item in value])


def module_lists(values: Sequence[Any]) -> bool:
    """Tuples of dotted module names whose every part is an identifier."""
    if not string_lists(values, kinds=(tuple,)):
        return False
    modules = [module for value in values for module in value]
    return all(map(str.isidentifier, ".".join(modules).split("."))) if modules else True


def optional_strs(values: Sequence[Any]) -> bool:
    """Strings (see :func:`strs`) or ``None``."""
    return strs([value for value in values if value is not None])


def rows(values: object, width: int) -> list[tuple[Any, ...]]:
    """``values`` as rows of ``width`` columns (tuples or lists); ValueError if not."""
    if not isinstance(values, (list, tuple)) or not typed(values, tuple, list):
        raise ValueError("expected a list of rows")
    if {len(row) for row in values} - {width}:
        raise ValueError(f"expected rows of {width} values")
    return list(values)


def columns(table: Sequence[Sequence[Any]], width: int) -> tuple[tuple[Any, ...], ...]:
    """The columns of ``table`` (rows of ``width`` values), empty ones for no rows."""
    return tuple(zip(*table, strict=True)) or ((),) * width
