"""Frozen, slotted record classes without importing ``dataclasses``.

``dataclasses`` pulls in ``inspect`` and ``typing`` (~12 ms), more than lazyext's whole
warm-path budget, and the warm path builds a handful of records. ``record`` gives
those classes what ``@dataclass(frozen=True, slots=True)`` would: ``__init__`` with
defaults, ``__repr__``, ``__eq__``, ``__hash__``, ``__slots__``, immutability and
``__post_init__``. Type checkers see a dataclass through ``dataclass_transform``.
Defaults must be immutable (tuples, ``None``, numbers, strings, ``EMPTY``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")


class _Empty(dict):  # type: ignore[type-arg]
    """An immutable empty mapping usable as a default."""

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> Any:
        raise TypeError("EMPTY is immutable")

    # Every record without arguments shares this one object: no way to change it.
    __setitem__ = __delitem__ = __ior__ = _refuse
    update = setdefault = pop = popitem = clear = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return 0


EMPTY: Any = _Empty()


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise AttributeError(f"{type(self).__name__} is frozen; use replace()")


def _frozen_delattr(self: object, name: str) -> None:
    raise AttributeError(f"{type(self).__name__} is frozen; use replace()")


def _build(cls: type[T]) -> type[T]:
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
    namespace = {
        key: value
        for key, value in cls.__dict__.items()
        if key not in names and key not in {"__dict__", "__weakref__"}
    }
    namespace["__slots__"] = names
    namespace["__match_args__"] = names
    required = [name for name in names if name not in defaults]
    post_init = namespace.get("__post_init__")

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if not kwargs and len(args) == len(names):
            # Every field positional: how the compiled config is decoded on the warm
            # path, twice per configured extension (benchmark B7).
            for name, value in zip(names, args, strict=True):
                object.__setattr__(self, name, value)
            if post_init is not None:
                post_init(self)
            return
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} positional arguments")
        values = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key not in names:
                raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{cls.__name__}() got multiple values for argument {key!r}")
            values[key] = value
        missing = [name for name in required if name not in values]
        if missing:
            raise TypeError(f"{cls.__name__}() missing required arguments: {', '.join(missing)}")
        for name in names:
            object.__setattr__(self, name, values[name] if name in values else defaults[name])
        if post_init is not None:
            post_init(self)

    def __repr__(self: Any) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{cls.__name__}({fields})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in names)

    def __hash__(self: Any) -> int:
        return hash(tuple(_hashable(getattr(self, name)) for name in names))

    def __reduce__(self: Any) -> tuple[Any, ...]:
        return (new_cls, tuple(getattr(self, name) for name in names))

    namespace.update(
        # inspect.signature() and help() show the real parameters, built on first use
        # (inspect is not imported on lazyext's import path).
        __signature__=_Signature(names, defaults),
        __init__=__init__,
        __repr__=__repr__,
        __eq__=__eq__,
        __hash__=__hash__,
        __setattr__=_frozen_setattr,
        __delattr__=_frozen_delattr,
        __reduce__=__reduce__,
    )
    metaclass: Any = type(cls)
    new_cls: Any = metaclass(cls.__name__, cls.__bases__, namespace)
    new_cls.__qualname__ = cls.__qualname__
    # The slots' own descriptors, for from_columns().
    new_cls._setters = tuple(new_cls.__dict__[name].__set__ for name in names)
    result: type[T] = new_cls
    return result


class _Signature:
    """``cls.__signature__``: the fields as keyword-or-positional parameters."""

    def __init__(self, names: tuple[str, ...], defaults: dict[str, Any]) -> None:
        self.names = names
        self.defaults = defaults

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        import inspect

        hints = getattr(owner, "__annotations__", {}) if owner is not None else {}
        empty = inspect.Parameter.empty
        return inspect.Signature(
            [
                inspect.Parameter(
                    name,
                    inspect.Parameter.POSITIONAL_OR_KEYWORD,
                    default=self.defaults.get(name, empty),
                    annotation=hints.get(name, empty),
                )
                for name in self.names
            ],
            return_annotation=None,
        )


def _hashable(value: object) -> object:
    if isinstance(value, dict):
        return tuple(sorted((repr(k), repr(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(value)
    return value


def fields_of(cls: type) -> tuple[str, ...]:
    slots: tuple[str, ...] = cls.__slots__  # type: ignore[attr-defined]
    return slots


def from_columns(cls: type[T], columns: Sequence[Sequence[Any]]) -> list[T]:
    """Records of ``cls`` from the columns of their field values (one sequence per
    field, in order), as they are: no ``__init__``, no ``__post_init__``, for values
    already in canonical form such as validated cache data. Built a field at a time
    over all records, in C (``map`` of the slot's setter): the warm path decodes one
    record per configured extension and per locked distribution (benchmarks B1, B3)."""
    setters: tuple[Any, ...] = cls.__dict__["_setters"]
    if len(columns) != len(setters) or len({len(column) for column in columns}) > 1:
        raise TypeError(f"{cls.__name__}: {len(setters)} columns of equal length expected")
    count = len(columns[0]) if columns else 0
    records: list[T] = list(map(object.__new__, [cls] * count))
    for setter, column in zip(setters, columns, strict=True):
        list(map(setter, records, column))
    return records


def replace(obj: T, **changes: Any) -> T:
    """A copy of record ``obj`` with some fields changed (``dataclasses.replace``)."""
    values = {name: getattr(obj, name) for name in fields_of(type(obj))}
    values.update(changes)
    return type(obj)(**values)


if TYPE_CHECKING:

    @dataclass_transform(frozen_default=True)
    def record(cls: type[T]) -> type[T]: ...

else:
    record = _build
