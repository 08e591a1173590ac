"""The dataclass substitute (_record): what the parsed config relies on."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from lazyext._record import EMPTY, fields_of, from_columns, record, replace
from lazyext._settings.config import Extension, Settings
from lazyext._settings.keys import install_fingerprint


@record
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


def test_init_defaults_and_fields() -> None:
    assert Point(1) == Point(x=1, y=0, tags=())
    assert Point(1, 2).y == 2
    assert fields_of(Point) == ("x", "y", "tags")
    assert Point.__match_args__ == ("x", "y", "tags")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "missing required arguments: x"),
        ((1, 2, (), 4), {}, "takes 3 positional arguments"),
        ((1,), {"x": 2}, "multiple values for argument 'x'"),
        ((1,), {"z": 2}, "unexpected keyword argument 'z'"),
    ],
)
def test_bad_calls(args: tuple[object, ...], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Point(*args, **kwargs)  # type: ignore[arg-type, misc]


def test_frozen_and_slotted() -> None:
    point = Point(1)
    with pytest.raises(AttributeError, match="frozen"):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen"):
        del point.x  # type: ignore[misc]
    assert not hasattr(point, "__dict__")


def test_equality_hash_repr() -> None:
    assert Point(1, 2) == Point(1, 2)
    assert Point(1, 2) != Point(2, 1)
    assert hash(Point(1, 2, ("a",))) == hash(Point(1, 2, ("a",)))
    assert repr(Point(1)) == "Point(x=1, y=0, tags=())"
    assert Point(1).__eq__(object()) is NotImplemented


def test_replace_and_pickle() -> None:
    point = Point(1, 2)
    moved = replace(point, y=5)
    assert moved == Point(1, 5)
    assert point.y == 2
    assert pickle.loads(pickle.dumps(point)) == point


def test_extension_normalizes_lists_and_defaults() -> None:
    extension = Extension(name="yaml", package="PyYAML", modules=["yaml"], hashes=["sha256:x"])  # type: ignore[arg-type]
    assert extension.modules == ("yaml",)
    assert extension.hashes == ("sha256:x",)
    assert Extension(name="yaml").modules == ("yaml",)
    assert Extension(name="yaml", arguments={"a": 1}) == Extension(name="yaml", arguments={"a": 1})
    # Hashable even with a dict of arguments.
    assert hash(Extension(name="yaml", arguments={"a": 1})) == hash(
        Extension(name="yaml", arguments={"a": 1})
    )
    assert pickle.loads(pickle.dumps(extension)) == extension


def test_empty_default_is_immutable() -> None:
    assert Extension(name="x").arguments == {}
    with pytest.raises(TypeError):
        EMPTY["k"] = 1


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(k=1),
        lambda d: d.setdefault("k", 1),
        lambda d: d.__ior__({"k": 1}),
        lambda d: d.pop("k", None),
        lambda d: d.popitem(),
        lambda d: d.clear(),
        lambda d: d.__delitem__("k"),
    ],
)
def test_the_shared_empty_default_cannot_be_changed_in_any_way(mutate: Any) -> None:
    # Every extension without arguments shares this one object: a plugin that fills in
    # its defaults with setdefault() must not hand them to every other extension.
    arguments = Extension(name="x").arguments
    with pytest.raises(TypeError, match="immutable"):
        mutate(arguments)
    assert Extension(name="y").arguments == {}


def test_settings_default_values() -> None:
    settings = Settings(cache_dir="/c")
    assert settings.ttl_hours == 24.0
    assert settings.retries == 2
    assert settings.lock is None
    assert install_fingerprint(settings) == (None, (), (), False, False, None)


def test_from_columns_builds_records_a_field_at_a_time() -> None:
    points = from_columns(Point, [(1, 2), (3, 4), (("a",), ())])
    assert points == [Point(1, 3, ("a",)), Point(2, 4, ())]
    assert from_columns(Point, [(), (), ()]) == []
    with pytest.raises(TypeError, match="3 columns of equal length"):
        from_columns(Point, [(1,), (2,)])
    with pytest.raises(TypeError, match="3 columns of equal length"):
        from_columns(Point, [(1, 2), (3,), ((), ())])
    with pytest.raises(AttributeError):
        points[0].x = 5  # type: ignore[misc]
