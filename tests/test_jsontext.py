"""``lazyext._jsontext``: the text ``json`` would write, without importing ``json``."""

from __future__ import annotations

import json
import math

import pytest

from lazyext import _jsontext

VALUES: list[object] = [
    {},
    [],
    {"b": 1, "a": [1, 2.5, -0.0, 1e300, True, False, None], "c": {"d": ()}},
    {"path": '/tmp/é\n"quoted"\\\x00\u2028', "resolved": [["TinyYaml", "6.1"], ["dep", "1"]]},
    {"nested": {"deeper": [{"x": []}, {}]}, "big": 2**70, "small": 1.5e-300},
    "plain",
    3,
]


@pytest.mark.parametrize("value", VALUES)
def test_same_text_as_json(value: object) -> None:
    assert _jsontext.dumps(value) == json.dumps(value, indent=2, sort_keys=True)
    assert json.loads(_jsontext.dumps(value)) == json.loads(json.dumps(value))


@pytest.mark.parametrize("value", [math.nan, math.inf, {1: "x"}, {"s": {1, 2}}, b"bytes"])
def test_what_json_cannot_hold_is_refused(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        _jsontext.dumps(value)
