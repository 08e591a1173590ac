"""Check a published install against the ``RECORD`` files of its distributions.

Every wheel lists its files with their sha256 and size in ``*.dist-info/RECORD``; uv
keeps that list (adding its own ``INSTALLER``/``REQUESTED`` lines). A file deleted,
truncated or changed after the install, a ``RECORD`` gone missing, or a file that no
``RECORD`` lists (a planted ``.pth`` or module) is a problem; ``__pycache__`` is
derived data (:mod:`.bytecode`). Hashing a whole install
costs time in proportion to its size, so this runs on demand (``lazyext verify``) and
when an import finds a configured module missing from its install; never on the warm
path.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import stat
import time

from lazyext._errors import InstallError
from lazyext._settings.config import Settings
from lazyext._store import layers
from lazyext._store.bytecode import derived
from lazyext._store.entries import INVALIDATED, Entry, private_dir
from lazyext._store.recordfile import DATA, READ_ERRORS, located, records, rows_of

#: Written by uv next to the wheel's files, listed in no RECORD.
_UNLISTED_OK = frozenset({".lock"})


def verify(entry: Entry) -> list[str]:
    """Every problem of ``entry``'s install (empty: it is exactly what was installed)."""
    return verify_target(entry.target)


def verify_entry(entry: Entry, settings: Settings) -> list[str]:
    """:func:`verify`, and for an entry of a read-only layer (``cache-read``) every file
    and directory of it by the layer's trust rule (:func:`.layers.check_entry`)."""
    unsafe = []
    if layers.layer_of(entry.path, settings) is not None:
        unsafe = layers.problems(entry.path, trust_group=settings.trust_group)
    return unsafe + verify(entry)


def require_verified(target: str, *, root: str, requirement: str, cache_key: str) -> None:
    """Refuse to publish a staged install that contradicts its wheels' RECORD files.

    uv installs a wheel whose files do not match its own RECORD (it checks hashes only
    when asked to pin them): such a wheel was tampered with or built broken, and
    ``verify`` would flag it at once; reinstalling gives the same wheel again. So it
    is never published, the refusal is remembered in ``<cache>/refused/<key>.txt``
    (shown by ``lazyext verify``), and the error is marked *security*: never retried.
    """
    problems = verify_target(target)
    if not problems:
        return
    _remember_refusal(root, cache_key, problems)
    raise InstallError(
        f"refusing to publish {requirement}: its files do not match the RECORD of its "
        f"wheel ({_summary(problems)}); the wheel was altered or built broken: rebuild "
        "or re-download it (a reinstall would give the same files)",
        spec=requirement,
        cache_key=cache_key,
        security=True,
    )


#: How long a refused wheel is not installed again (a fixed release may follow; an
#: explicit refresh, ``lazyext invalidate`` or this much time lets uv try again).
REFUSAL_SECONDS = 3600.0


def _summary(problems: list[str], shown: int = 5) -> str:
    return "; ".join(problems[:shown]) + ("; ..." if len(problems) > shown else "")


def refusal(root: str, cache_key: str, max_age: float | None = None) -> list[str]:
    """The problems of the last staged install of ``cache_key`` refused (younger than
    ``max_age`` seconds, if given), if any."""
    path = refusal_path(root, cache_key)
    try:
        if max_age is not None and not 0 <= time.time() - os.stat(path).st_mtime < max_age:
            return []
        with open(path, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except OSError:
        return []


def refusal_path(root: str, cache_key: str) -> str:
    return os.path.join(root, "refused", f"{cache_key}.txt")


def raise_if_refused(root: str, requirement: str, cache_key: str, name: str | None) -> None:
    """Refuse to run uv again for a wheel refused moments ago: it is the same wheel
    (``verify --repair`` and every import would reinstall it forever). A refresh
    resolves again: a new release has another key, and is tried."""
    problems = refusal(root, cache_key, REFUSAL_SECONDS)
    if not problems:
        return
    raise InstallError(
        f"not installing {requirement} again: its wheel contradicted its own RECORD less "
        f"than {REFUSAL_SECONDS / 3600:.0f} h ago ({_summary(problems)}); `lazyext refresh` or "
        "`lazyext invalidate` tries again once a fixed wheel is published",
        name=name,
        spec=requirement,
        cache_key=cache_key,
        security=True,
    )


def _remember_refusal(root: str, cache_key: str, problems: list[str]) -> None:
    try:
        private_dir(root, "refused")
        path = refusal_path(root, cache_key)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(problems) + "\n")
    except OSError:
        pass  # remembering is a courtesy; refusing is what matters


def verify_target(target: str) -> list[str]:
    """Every problem of the install in ``target`` against its RECORD files."""
    problems: list[str] = []
    listed: set[str] = set()
    unhashed: list[str] = []
    found = sorted(records(target))
    if not found:
        return [f"{target}: no *.dist-info/RECORD: the install is incomplete"]
    for record in found:
        listed.add(record)
        try:
            rows = rows_of(os.path.join(target, record))
        except READ_ERRORS as error:
            problems.append(f"{record}: unreadable ({error})")
            continue
        for path, digest, size in rows:
            if "\\" in path or "\0" in path:
                problems.append(f"{record} lists {path!r}, not a portable relative path")
                continue
            relative = located(path)
            if relative is None:
                problems.append(f"{record} lists {path!r}, outside the install")
                continue
            if not digest and relative not in _signatures(record):
                unhashed.append(relative)  # decided once every listed module is known
                continue
            listed.add(relative)
            problem = _check_file(target, relative, digest, size)
            if problem is not None:
                problems.append(problem)
    # uv lists a file that the wheel's own RECORD leaves out, without a hash: it is
    # outside RECORD like any other (a planted ``.pth`` runs at every start). Only
    # bytecode compiled from a listed module may have no hash (derived data).
    for relative in unhashed:
        if not derived(relative, listed):
            problems.append(f"{relative}: not in its wheel's RECORD (listed with no hash)")
    listed.update(unhashed)  # each reported once
    problems += [f"{path}: listed in no RECORD" for path in _unlisted(target, listed)]
    return problems


def _signatures(record: str) -> tuple[str, str, str]:
    """RECORD and its signatures: the files a wheel lists without a hash (PEP 427)."""
    return record, f"{record}.jws", f"{record}.p7s"


_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _check_file(target: str, relative: str, digest: str, size: str) -> str | None:
    if not digest:
        return None  # RECORD itself, bytecode (verify_target refuses any other)
    # One open (a symlink or a FIFO is refused without following or blocking), one
    # fstat and plain reads: this runs for every file of an install before it is
    # published (~1,500 files for a large package).
    try:
        descriptor = os.open(os.path.join(target, relative), _OPEN_FLAGS)
    except OSError:
        return f"{relative}: missing"
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return f"{relative}: missing"
        if size.isdigit() and info.st_size != int(size):
            return f"{relative}: size {info.st_size}, expected {size}"
        algorithm, _, expected = digest.partition("=")
        if algorithm not in {"sha256", "sha384", "sha512"}:
            return f"{relative}: unsupported hash {algorithm!r} in RECORD"
        hasher = hashlib.new(algorithm)
        while block := os.read(descriptor, 1 << 20):
            hasher.update(block)
    finally:
        os.close(descriptor)
    encoded = binascii.b2a_base64(hasher.digest(), newline=False).rstrip(b"=").decode()
    actual = encoded.replace("+", "-").replace("/", "_")  # urlsafe, as RECORD spells it
    if actual != expected:
        return f"{relative}: content changed ({algorithm} differs from RECORD)"
    return None


def _unlisted(target: str, listed: set[str]) -> list[str]:
    found = []
    data = os.path.join(os.path.dirname(target), DATA)
    for root, label in ((target, ""), (data, os.path.join(os.pardir, DATA))):
        skip = len(root.rstrip(os.sep)) + 1  # relative paths by slicing, not relpath
        for base, directories, files in os.walk(root):
            directories.sort()
            inside = os.path.join(label, base[skip:]) if label else base[skip:]
            for name in sorted(files):
                relative = os.path.join(inside, name) if inside else name
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
    for record in sorted(records(target)):
        try:
            rows = rows_of(os.path.join(target, record))
        except READ_ERRORS:
            continue
        for path, digest, size in rows:
            relative = located(path)
            if relative is None:
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
    marker = os.path.join(entry.path, INVALIDATED)
    if not os.path.lexists(marker):
        with open(marker, "w", encoding="utf-8") as handle:
            handle.write(f"{time.time()}\n")
