"""Helpers of the task tests: a controllable clock and a bounded wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from lazyext.tasks import Clock


class FakeClock(Clock):
    """A clock the test moves: ``sleep`` records the wait and jumps ahead at once."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        self.sleeps.append(seconds)
        self.now += seconds
        return not stop.is_set()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail (not hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)
