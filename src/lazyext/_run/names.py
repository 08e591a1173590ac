"""The import names a distribution provides, read from the file list of its wheel.

A distribution's name says little about what it lets you import (PyYAML gives ``yaml``,
beautifulsoup4 ``bs4``), and a config must name the modules that trigger an install.
So the names come from the wheel the lock chose for this interpreter, without
installing it:

* a local wheel (``find-links``, a ``file://`` index): its zip directory;
* a remote wheel: the zip's central directory only, with HTTP range requests (the
  last 64 KiB, and the directory itself when it is larger), as pip's lazy wheel does:
  a few KiB instead of the whole file;
* the answer is kept in the cache under the wheel's sha256, so a second script with
  the same dependency, or an offline run, asks nothing.

What counts as an import name is what ``site-packages`` would get at its top: packages
(a namespace package's portions as dotted names, ``google.protobuf``), modules and
extension modules, from ``purelib``/``platlib`` too; the standard library's names,
lazyext's own and test or documentation folders are left out.
"""

from __future__ import annotations

import concurrent.futures
import functools
import io
import keyword
import os
import re
import ssl
import struct
import sys
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any, Final

from lazyext import _log, _trust
from lazyext._settings.checks import LOOPBACK_HOSTS
from lazyext._settings.keys import RESERVED_MODULES
from lazyext._settings.names import DistName, canonical_name
from lazyext._store.entries import private_dir
from lazyext._version import __version__

_TAIL: Final = 64 * 1024
_MAX_DIRECTORY: Final = 32 * 1024 * 1024
_MAX_WHOLE: Final = 64 * 1024 * 1024  # a server without range requests: the whole wheel
_TIMEOUT: Final = 30.0
#: Folders some wheels ship at their top that nobody imports as a dependency.
_NOT_IMPORTED: Final = frozenset(
    {"test", "tests", "testing", "doc", "docs", "example", "examples", "benchmarks", "scripts"}
)
_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")


class NamesError(Exception):
    """The wheel's file list could not be read (the caller falls back, with a warning)."""


def guess(dist: DistName) -> str:
    """The import name a distribution most often has: its name with ``_`` for ``-``."""
    return dist.replace("-", "_")


def import_names(
    lock_text: str, dists: Sequence[DistName], root: str, *, offline: bool
) -> tuple[dict[DistName, tuple[str, ...]], frozenset[DistName]]:
    """The import names of each of ``dists`` from the wheels ``lock_text`` locks, and
    the distributions whose names were guessed.

    A distribution whose names cannot be read (no wheel, offline and never read, the
    network) gets :func:`guess`'s name, with a warning that says what to do."""
    wheels = chosen_wheels(lock_text)
    root = _trust.ensure_root(root)
    found: dict[DistName, tuple[str, ...]] = {}
    guessed: set[DistName] = set()
    todo: dict[DistName, tuple[str, str]] = {}
    for dist in dists:
        wheel = wheels.get(dist)
        cached = _cached(root, wheel[1]) if wheel is not None else None
        if cached is not None:
            found[dist] = cached
        elif wheel is not None and not (offline and not _local_path(wheel[0])):
            todo[dist] = wheel
        else:
            why = "no wheel is locked for it" if wheel is None else "offline, never read"
            found[dist] = _fallback(dist, why)
            guessed.add(dist)
    if todo:
        workers = min(8, len(todo))
        with concurrent.futures.ThreadPoolExecutor(workers, "lazyext-names") as pool:
            futures = {dist: pool.submit(listing, location) for dist, (location, _) in todo.items()}
        for dist, future in futures.items():
            try:
                names = top_level(future.result())
            except (NamesError, OSError, ValueError, zipfile.BadZipFile) as error:
                found[dist] = _fallback(dist, str(error))
                guessed.add(dist)
                continue
            found[dist] = names or (guess(dist),)
            if names:
                _remember(root, todo[dist][1], names)
    return {dist: ordered(dist, found[dist]) for dist in dists}, frozenset(guessed)


def ordered(dist: DistName, names: Iterable[str]) -> tuple[str, ...]:
    """The names an import of the distribution starts with: its public ones (PyYAML's
    ``yaml``, not its ``_yaml``), the most likely first. The others are served once
    the closure is installed, as its dependencies' are."""
    own = guess(dist)
    public = {name for name in names if not name.startswith("_")} or set(names)
    return tuple(sorted(public, key=lambda name: (name != own, name)))


def _fallback(dist: DistName, why: str) -> tuple[str, ...]:
    _log.warning(
        "cannot read the import names of %s (%s); assuming `import %s`. If it provides "
        "other modules, declare them: [[tool.lazyext.extensions]] with package = %r and "
        "modules = [...]",
        dist,
        why,
        guess(dist),
        dist,
    )
    return (guess(dist),)


def warm_up() -> None:
    """Make what reading names needs ready (in a thread, while uv resolves): the TLS
    context, which loads the system's CA certificates, and this interpreter's tags."""
    _tls()
    _tags()


@functools.cache
def _tls() -> ssl.SSLContext:
    """One context for every request (``urlopen`` without one loads the CA certificates
    for each connection)."""
    return ssl.create_default_context()


@functools.cache
def _tags() -> dict[Any, int]:
    from packaging.tags import sys_tags

    return {tag: index for index, tag in enumerate(sys_tags())}


def chosen_wheels(lock_text: str) -> dict[DistName, tuple[str, str]]:
    """For each package of a ``pylock.toml``: the location and sha256 of the wheel this
    interpreter installs (the first of its tags, in ``packaging.tags.sys_tags`` order)."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    rank = _tags()
    chosen: dict[DistName, tuple[str, str]] = {}
    for package in tomllib.loads(lock_text).get("packages", []) if lock_text else ():
        best: tuple[int, str, str] | None = None
        wheels = package.get("wheels", []) if isinstance(package, dict) else []
        archive = package.get("archive") if isinstance(package, dict) else None
        if isinstance(archive, dict):  # a direct reference to a wheel
            wheels = [*wheels, archive]
        for wheel in wheels:
            location = wheel.get("url") or wheel.get("path") or ""
            if not isinstance(location, str) or not location.endswith(".whl"):
                continue
            try:
                tags = parse_wheel_filename(location.rsplit("/", 1)[-1])[3]
            except InvalidWheelFilename:
                continue
            score = min((rank[tag] for tag in tags if tag in rank), default=None)
            digest = str(wheel.get("hashes", {}).get("sha256", ""))
            if score is not None and (best is None or score < best[0]):
                best = (score, location, digest)
        if best is not None:
            chosen[canonical_name(str(package.get("name", "")))] = (best[1], best[2])
    return chosen


def listing(location: str) -> list[str]:
    """The file names inside the wheel at ``location`` (a path, file:// or http(s)://)."""
    path = _local_path(location)
    if path is not None:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    scheme, _, rest = location.partition("://")
    host = rest.partition("/")[0].rpartition("@")[2].lower()
    loopback = host.partition("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
    if scheme != "https" and not (scheme == "http" and loopback in LOOPBACK_HOSTS):
        raise NamesError(f"{location}: only https wheels are read")
    return _remote_listing(location)


def _local_path(location: str) -> str | None:
    if location.startswith("file://"):
        return urllib.request.url2pathname(location[len("file://") :])
    return location if "://" not in location else None


def top_level(paths: Iterable[str], prefix: str = "", depth: int = 0) -> tuple[str, ...]:
    """The import names a wheel with these files gives (see the module docstring)."""
    files: dict[str, set[str]] = {}  # top-level folder -> the paths below it
    names: set[str] = set()
    for path in paths:
        parts = path.split("/")
        if not prefix and parts[0].endswith(".data"):
            if len(parts) < 3 or parts[1] not in {"purelib", "platlib"}:
                continue
            parts = parts[2:]
        if not prefix and parts[0].endswith(".dist-info"):
            continue
        if len(parts) == 1:
            stem = parts[0].partition(".")[0]
            suffix = parts[0][len(stem) :]
            if suffix == ".py" or suffix.endswith((".so", ".pyd")):
                names.add(stem)
        elif parts[0] and parts[-1]:
            files.setdefault(parts[0], set()).add("/".join(parts[1:]))
    found = {f"{prefix}{name}" for name in names if _importable(name, prefix)}
    for folder, below in files.items():
        if not _importable(folder, prefix):
            continue
        if any(p.partition(".")[0] == "__init__" and "/" not in p for p in below):
            found.add(f"{prefix}{folder}")
        elif depth < 2:  # a namespace package: its portions, dotted
            found.update(top_level(below, f"{prefix}{folder}.", depth + 1))
    return tuple(sorted(found))


def _importable(name: str, prefix: str = "") -> bool:
    if not name.isidentifier() or keyword.iskeyword(name) or name == "__pycache__":
        return False
    if prefix:  # inside a namespace package: its public portions
        return not name.startswith("_")
    return (
        name not in sys.stdlib_module_names
        and name not in RESERVED_MODULES
        and name not in _NOT_IMPORTED
    )


# -- remote wheels: the central directory only ------------------------------------------


def _remote_listing(url: str) -> list[str]:
    tail, total = _fetch(url, f"bytes=-{_TAIL}")
    if total is None:  # the server sent the whole file
        with zipfile.ZipFile(io.BytesIO(tail)) as archive:
            return archive.namelist()
    base = total - len(tail)
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) < end + 22:
        raise NamesError(f"{url}: no zip directory in its last {_TAIL} bytes")
    size, offset = struct.unpack("<II", tail[end + 12 : end + 20])
    if 0xFFFFFFFF in (size, offset):  # zip64: the locator stands before the record
        locator = tail[end - 20 : end]
        if len(locator) != 20 or not locator.startswith(b"PK\x06\x07"):
            raise NamesError(f"{url}: a zip64 archive without its locator")
        record_at = struct.unpack("<Q", locator[8:16])[0]
        record = tail[record_at - base :] if record_at >= base else b""
        if len(record) < 56:
            record = _fetch(url, f"bytes={record_at}-{record_at + 55}")[0]
        size, offset = struct.unpack("<QQ", record[40:56])
    if size > _MAX_DIRECTORY:
        raise NamesError(f"{url}: a zip directory of {size} bytes")
    if offset >= base:
        directory = tail[offset - base : offset - base + size]
    else:
        directory = _fetch(url, f"bytes={offset}-{offset + size - 1}")[0]
    return _central_names(directory)


def _central_names(directory: bytes) -> list[str]:
    names = []
    position = 0
    while position + 46 <= len(directory) and directory.startswith(b"PK\x01\x02", position):
        flags = struct.unpack("<H", directory[position + 8 : position + 10])[0]
        name_length, extra, comment = struct.unpack(
            "<HHH", directory[position + 28 : position + 34]
        )
        raw = directory[position + 46 : position + 46 + name_length]
        names.append(raw.decode("utf-8" if flags & 0x800 else "cp437"))
        position += 46 + name_length + extra + comment
    return names


def _fetch(url: str, byte_range: str) -> tuple[bytes, int | None]:
    """``(bytes, total size)`` for a range; ``(whole file, None)`` from a server that
    ignores ranges."""
    request = urllib.request.Request(
        url, headers={"Range": byte_range, "User-Agent": f"lazyext/{__version__}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT, context=_tls()) as response:
            if response.status == 206:
                total = response.headers.get("Content-Range", "").rpartition("/")[2]
                data: bytes = response.read(_MAX_DIRECTORY + 1)
                if not total.isdigit() or len(data) > _MAX_DIRECTORY:
                    raise NamesError(f"{url}: an unusable range answer")
                return data, int(total)
            data = response.read(_MAX_WHOLE + 1)
            if len(data) > _MAX_WHOLE:
                raise NamesError(f"{url}: no range requests, and larger than {_MAX_WHOLE} bytes")
            return data, None
    except urllib.error.URLError as error:
        if isinstance(error, urllib.error.HTTPError):
            error.close()
        raise NamesError(f"{url}: {error.reason}") from error


# -- the cache: names by wheel hash ----------------------------------------------------


def _names_file(root: str, digest: str) -> str | None:
    if not _SHA256.match(digest):
        return None
    return os.path.join(private_dir(root, "scripts", "names"), digest)


def _cached(root: str, digest: str) -> tuple[str, ...] | None:
    path = _names_file(root, digest)
    if path is None:
        return None
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(descriptor, encoding="utf-8") as handle:
        info = os.fstat(handle.fileno())
        if hasattr(os, "geteuid") and (info.st_uid != os.geteuid() or info.st_mode & 0o022):
            return None
        names = tuple(handle.read(64 * 1024).split())
    valid = names and all(all(p.isidentifier() for p in n.split(".")) for n in names)
    return names if valid else None


def _remember(root: str, digest: str, names: Sequence[str]) -> None:
    path = _names_file(root, digest)
    if path is None:
        return
    temporary = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        with open(os.open(temporary, flags, 0o600), "w", encoding="utf-8") as handle:
            handle.write("\n".join(names) + "\n")
        os.replace(temporary, path)
    except OSError:
        if os.path.lexists(temporary):
            os.unlink(temporary)
