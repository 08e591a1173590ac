"""Fixtures of the task tests: a controllable clock and a manager that always stops."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tasktools import FakeClock

from lazyext.tasks import TaskManager

HERE = Path(__file__).resolve().parent


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def managers() -> Iterator[list[TaskManager]]:
    """Managers appended here are shut down after the test, whatever happened."""
    made: list[TaskManager] = []
    yield made
    for manager in made:
        manager.shutdown(wait=False)


@pytest.fixture
def child_env() -> dict[str, str]:
    """The environment of a child process that can import ``taskfuncs``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), *sys.path])
    return env
