"""The generated references of the site (docs/_hooks/reference.py) cover everything and
refuse to drift: the suite fails as the strict build would."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from docblocks import REPO

sys.path.insert(0, str(REPO / "docs" / "_hooks"))
try:
    import reference
finally:
    sys.path.remove(str(REPO / "docs" / "_hooks"))


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_the_cli_reference_has_every_command_and_option() -> None:
    text = reference.cli_reference()
    for parser in _parsers(reference.build_parser()):
        if parser.prog != "lazyext":
            assert f"### `{parser.prog}`" in text
        section = text.split(f"### `{parser.prog}`", 1)[-1].split("\n### ", 1)[0]
        for action in parser._actions:
            for option in action.option_strings:
                if option not in {"-h", "--help"}:
                    assert f"`{option}" in section, (parser.prog, option)


def test_the_settings_reference_matches_the_definitions() -> None:
    text = reference.settings_reference()
    for setting in reference.settings_table().SETTINGS:
        assert f"| `{setting.key}` |" in text


def _table(**changes: Any) -> SimpleNamespace:
    table = reference.settings_table()
    return SimpleNamespace(
        SETTINGS=changes.get("SETTINGS", table.SETTINGS),
        ENVIRONMENT=changes.get("ENVIRONMENT", table.ENVIRONMENT),
    )


def test_a_setting_without_a_description_fails() -> None:
    settings = [s for s in reference.settings_table().SETTINGS if s.key != "retries"]
    with pytest.raises(ValueError, match=r"\[top level\] retries: no description"):
        reference.check_settings(_table(SETTINGS=settings))


def test_a_description_without_a_setting_fails() -> None:
    table = reference.settings_table()
    extra = table.SETTINGS[0]._replace(key="retry")
    with pytest.raises(ValueError, match="retry: described, not defined"):
        reference.check_settings(_table(SETTINGS=(*table.SETTINGS, extra)))


def test_a_default_documented_wrong_fails() -> None:
    settings = [
        s._replace(default='"2h"') if s.key == "gc-every" else s
        for s in reference.settings_table().SETTINGS
    ]
    with pytest.raises(ValueError, match=r"\[maintenance\] gc-every: documented default"):
        reference.check_settings(_table(SETTINGS=settings))


def test_an_environment_variable_without_a_description_fails() -> None:
    table = reference.settings_table()
    environment = [(k, v) for k, v in table.ENVIRONMENT if k != "LAZYEXT_PROGRESS"]
    with pytest.raises(ValueError, match="LAZYEXT_PROGRESS: not documented"):
        reference.check_settings(_table(ENVIRONMENT=environment))
