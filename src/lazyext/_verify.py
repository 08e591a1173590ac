"""Check a published install against the ``RECORD`` files of its distributions.

Every wheel lists its files with their sha256 and size in ``*.dist-info/RECORD``; uv
keeps that list (adding its own ``INSTALLER``/``REQUESTED`` lines). A file deleted,
truncated or changed after the install, a ``RECORD`` gone missing, or a file that no
``RECORD`` lists (a planted ``.pth`` or module) is a problem; ``__pycache__`` is
derived data (:mod:`lazyext._bytecode`). Hashing a whole install
costs time in proportion to its size, so this runs on demand (``lazyext verify``) and
when an import finds a configured module missing from its install; never on the warm
path.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
from collections.abc import Iterator

from lazyext._bytecode import derived
from lazyext._cache import Entry

#: Written by uv next to the wheel's files, listed in no RECORD.
_UNLISTED_OK = frozenset({".lock"})


def verify(entry: Entry) -> list[str]:
    """Every problem of ``entry``'s install (empty: it is exactly what was installed)."""
    target = entry.target
    problems: list[str] = []
    listed: set[str] = set()
    records = sorted(_records(target))
    if not records:
        return [f"{target}: no *.dist-info/RECORD: the install is incomplete"]
    for record in records:
        listed.add(record)
        try:
            rows = _rows(os.path.join(target, record))
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            problems.append(f"{record}: unreadable ({error})")
            continue
        for path, digest, size in rows:
            relative = os.path.normpath(path)
            if relative.startswith(("..", os.sep)) or os.path.isabs(path):
                problems.append(f"{record} lists {path!r}, outside the install")
                continue
            listed.add(relative)
            problem = _check_file(target, relative, digest, size)
            if problem is not None:
                problems.append(problem)
    problems += [f"{path}: listed in no RECORD" for path in _unlisted(target, listed)]
    return problems


def _records(target: str) -> Iterator[str]:
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
        return [row[0] for row in _rows(path)]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _rows(path: str) -> list[tuple[str, str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [
            (row[0], row[1] if len(row) > 1 else "", row[2] if len(row) > 2 else "")
            for row in csv.reader(handle)
            if row
        ]


def _check_file(target: str, relative: str, digest: str, size: str) -> str | None:
    path = os.path.join(target, relative)
    if not digest:
        return None  # RECORD itself, and files installers list without a hash
    if os.path.islink(path) or not os.path.isfile(path):
        return f"{relative}: missing"
    if size.isdigit() and os.path.getsize(path) != int(size):
        return f"{relative}: size {os.path.getsize(path)}, expected {size}"
    algorithm, _, expected = digest.partition("=")
    if algorithm not in {"sha256", "sha384", "sha512"}:
        return f"{relative}: unsupported hash {algorithm!r} in RECORD"
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    actual = base64.urlsafe_b64encode(hasher.digest()).rstrip(b"=").decode()
    if actual != expected:
        return f"{relative}: content changed ({algorithm} differs from RECORD)"
    return None


def _unlisted(target: str, listed: set[str]) -> list[str]:
    found = []
    for base, directories, files in os.walk(target):
        directories.sort()
        for name in sorted(files):
            relative = os.path.relpath(os.path.join(base, name), target)
            if relative in listed or relative in _UNLISTED_OK or derived(relative, listed):
                continue
            found.append(relative)
    return found


def linked_damage(entry: Entry) -> list[str]:
    """Distributions of ``entry`` with a changed file that is hard-linked (``st_nlink``
    > 1): with uv's default link mode that file is also in uv's cache, so the damage
    is there too and a reinstall would link it again (README: Link mode)."""
    target = entry.target
    found = []
    for record in sorted(_records(target)):
        try:
            rows = _rows(os.path.join(target, record))
        except (OSError, UnicodeDecodeError, csv.Error):
            continue
        for path, digest, size in rows:
            relative = os.path.normpath(path)
            if relative.startswith(("..", os.sep)) or os.path.isabs(path):
                continue
            try:
                linked = os.lstat(os.path.join(target, relative)).st_nlink > 1
            except OSError:
                continue
            if linked and _check_file(target, relative, digest, size) is not None:
                found.append(os.path.dirname(record)[: -len(".dist-info")].rpartition("-")[0])
                break
    return found


def quarantine(entry: Entry) -> None:
    """Mark ``entry``'s generation invalid: readers skip it, the next use reinstalls and
    gc removes it once no process uses it."""
    import time

    from lazyext._cache import INVALIDATED

    marker = os.path.join(entry.path, INVALIDATED)
    if not os.path.lexists(marker):
        with open(marker, "w", encoding="utf-8") as handle:
            handle.write(f"{time.time()}\n")
