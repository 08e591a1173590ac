"""Task functions importable by path ("webfuncs:...") in the server process."""

from __future__ import annotations

import os


def record(path: str, tag: str = "") -> None:
    """Append this process's pid and a tag to ``path``: one line per run."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {tag}\n")


def fail() -> None:
    raise ValueError("boom from webfuncs")
