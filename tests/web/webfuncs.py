"""Task functions importable by path ("webfuncs:...") in the server process."""

from __future__ import annotations

import os
import threading


def record(path: str, tag: str = "") -> None:
    """Append this process's pid and a tag to ``path``: one line per run."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {tag}\n")


def fail() -> None:
    raise ValueError("boom from webfuncs")


RELEASE = threading.Event()


def hang(path: str) -> None:
    """Say it started (``path``), then block until the test sets ``RELEASE``."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("started\n")
    RELEASE.wait()


TICKS: list[str] = []


def tick(tag: str = "") -> None:
    """Count a run in this process (the server runs in a thread of the tests)."""
    TICKS.append(tag)
