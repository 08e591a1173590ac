"""Task functions importable by path ("taskfuncs:...") in this process and in children."""

from __future__ import annotations

import os
import threading
import time

CALLS: list[str] = []
GATE = threading.Event()


def record(path: str, tag: str = "") -> None:
    """Append this process's pid (and a tag) to ``path``: one line per run."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {tag}\n".rstrip() + "\n")


def noop() -> None:
    CALLS.append("noop")


def fail() -> None:
    raise ValueError("boom")


def slow(seconds: float = 0.2) -> None:
    time.sleep(seconds)


NOT_CALLABLE = 42


def wait_for_gate() -> None:
    """Block until the test opens ``GATE``."""
    GATE.wait(60)
