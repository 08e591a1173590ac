"""A wheel's ``RECORD`` file: the paths it lists, with their hashes and sizes.

Read on the install path (splitting a closure's install per distribution, laying out
its schemes, verifying it before it is published): a hash and a size never hold a
comma or a quote, so a plain line splits from the right, and csv's C reader (``csv``
itself imports ``re`` and ``collections``, off the cold path) reads quoted paths only.
"""

from __future__ import annotations

import _csv
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Final

DATA: Final = "data"
#: A RECORD path of a data-scheme file, relative to the target (``os.path.normpath``'d):
#: the files of a wheel's data schemes live in ``../data/`` (lazyext._store.schemes).
DATA_PREFIX: Final = os.path.join(os.pardir, DATA) + os.sep
#: What reading a RECORD may raise besides OSError.
READ_ERRORS: Final = (OSError, UnicodeDecodeError, _csv.Error)


def located(path: str) -> str | None:
    """A RECORD path, normalised, relative to the target; ``None`` if it is outside the
    install. The files of a wheel's data schemes are in ``../data/`` (.schemes)."""
    relative = os.path.normpath(path)
    if os.path.isabs(path):
        return None
    if relative.startswith(DATA_PREFIX) and not relative[len(DATA_PREFIX) :].startswith(".."):
        return relative
    if relative.startswith(("..", os.sep)):
        return None
    return relative


def records(target: str) -> Iterator[str]:
    try:
        names = os.listdir(target)
    except OSError:
        return
    for name in names:
        if name.endswith(".dist-info"):
            record = os.path.join(name, "RECORD")
            if os.path.isfile(os.path.join(target, record)):
                yield record


def record_paths(path: str) -> list[str]:
    """The paths a ``RECORD`` file lists (relative to the install root)."""
    try:
        return [row[0] for row in rows_of(path)]
    except Exception:  # unreadable or malformed (csv.Error): _describe reports the result
        return []


def rows_of(path: str) -> list[tuple[str, str, str]]:
    """``(path, hash, size)`` per RECORD line. A hash and a size never hold a comma or a
    quote, so a plain line splits from the right; csv's C reader (``csv`` itself
    imports ``re`` and ``collections``: off the cold path) reads only quoted paths."""
    with open(path, encoding="utf-8", newline="") as handle:
        lines = handle.read().splitlines()
    rows = []
    for line in lines:
        if not line:
            continue
        # csv's C reader: its defaults are csv's "excel" dialect, as RECORD is written.
        row = next(_csv.reader([line])) if '"' in line else line.rsplit(",", 2)
        rows.append((row[0], row[1] if len(row) > 1 else "", row[2] if len(row) > 2 else ""))
    return rows
