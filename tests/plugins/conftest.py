"""Fixtures for the plugin tests: a manager factory over an isolated data directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from plugkit import LOG_ENV

from lazyext.plugins import PluginManager

from support import Wheelhouse


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file the test plugins' hooks write to (also through the environment)."""
    path = tmp_path / "events.log"
    monkeypatch.setenv(LOG_ENV, str(path))
    return path


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    path = tmp_path / "sources"
    path.mkdir()
    return path


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "plugins"


@pytest.fixture
def make_manager(
    wheelhouse: Wheelhouse, cache_dir: Path, log: Path
) -> Iterator[Callable[..., PluginManager]]:
    managers: list[PluginManager] = []

    def make(**options: Any) -> PluginManager:
        options = {**wheelhouse.options(cache_dir), **options}
        manager = PluginManager(**options)
        managers.append(manager)
        return manager

    yield make
    for manager in reversed(managers):
        manager.close()


@pytest.fixture
def manager(make_manager: Callable[..., PluginManager]) -> PluginManager:
    return make_manager()
