"""Plugin sources read safely: a zip archive or a folder, as a tree of files.

Nothing in a source is trusted. A zip is checked entry by entry from its central
directory *before anything is written*: a name that is absolute, has a drive, a
backslash, a ``..``/``.``/empty component or a control character; a symlink or other
non-regular entry; an encrypted entry; two names that differ only in case or Unicode
normalization (they would overwrite each other on macOS and Windows); a name that is
both a file and a directory; too many entries, too many bytes, or a compression ratio
that marks a zip bomb. Sizes declared in a zip can lie, so extraction streams every
entry with byte counters and stops at the first byte over a limit (and then only the
staging directory exists, which the caller removes). A folder may hold symlinks only
to files inside it.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO, Final, Protocol

from lazyext.plugins._errors import ManifestError, UnsafeArchiveError

_DRIVE: Final = re.compile(r"^[A-Za-z]:")
_CHUNK: Final = 1 << 16
#: Entries this small may compress as well as they like (a file of zeros is legitimate).
_RATIO_FLOOR: Final = 1 << 20
#: Never part of a plugin: bytecode caches and version-control folders.
_SKIPPED_DIRS: Final = frozenset({"__pycache__", ".git", ".hg", ".svn"})
_SKIPPED_FILES: Final = frozenset({".DS_Store"})
#: What reading a damaged or unsupported entry raises (zlib's error is not an OSError).
_DAMAGED: Final = (
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    zipfile.BadZipFile,
    zlib.error,
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one plugin may unpack to."""

    max_bytes: int = 100 * 1024 * 1024
    max_files: int = 10_000
    max_ratio: float = 100.0


class Tree(Protocol):
    """Files of a plugin source: ``files`` maps a relative POSIX path to its size."""

    label: str
    files: dict[str, int]

    def read(self, path: str, limit: int) -> bytes: ...

    def extract(self, destination: str, paths: dict[str, str]) -> None:
        """Write ``paths`` (tree path -> destination-relative path) under ``destination``."""
        ...

    def close(self) -> None: ...


def check_member_name(name: str, source: str) -> str:
    """Return the entry's path without a trailing ``/``, or raise UnsafeArchiveError."""

    def refuse(why: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(
            f"{source}: refusing the entry {name!r}: {why}", member=name, source=source
        )

    if any(unicodedata.category(char) in {"Cc", "Zl", "Zp"} for char in name):
        raise refuse("it contains a control character")
    if "\\" in name:
        raise refuse("it contains a backslash (a Windows path separator)")
    if name.startswith("/"):
        raise refuse("it is an absolute path")
    if _DRIVE.match(name):
        raise refuse("it starts with a drive letter")
    path = name[:-1] if name.endswith("/") else name
    parts = path.split("/")
    if any(part in {"", ".", ".."} for part in parts):
        raise refuse("it has an empty, '.' or '..' path component")
    return path


def _collision_key(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold()


class _Names:
    """Duplicate, case/normalization and file-versus-directory collisions."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.files: dict[str, str] = {}
        self.dirs: dict[str, str] = {}

    def add(self, path: str, is_dir: bool) -> None:
        parents = path.split("/")[:-1]
        for depth in range(1, len(parents) + 1):
            self._put("/".join(parents[:depth]), True)
        self._put(path, is_dir)

    def _put(self, path: str, is_dir: bool) -> None:
        key = _collision_key(path)
        mine, other = (self.dirs, self.files) if is_dir else (self.files, self.dirs)
        seen = mine.get(key)
        if seen is not None and (seen != path or not is_dir):
            raise UnsafeArchiveError(
                f"{self.source}: refusing the entry {path!r}: it collides with {seen!r} "
                "(duplicate, or the same name in another case or Unicode form)",
                member=path,
                source=self.source,
            )
        if key in other:
            raise UnsafeArchiveError(
                f"{self.source}: refusing the entry {path!r}: it is both a file and a folder",
                member=path,
                source=self.source,
            )
        mine[key] = path


class ZipTree:
    """A zip archive whose every entry passed the checks above."""

    def __init__(self, path: str, limits: Limits) -> None:
        self.label = path
        self.limits = limits
        try:
            self._zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as error:
            raise ManifestError(
                f"{path}: not a readable zip archive: {error}", source=path
            ) from error
        try:
            self._infos = self._check(self._zip.infolist())
        except BaseException:
            self._zip.close()
            raise
        self.files = {name: info.file_size for name, info in self._infos.items()}

    def _check(self, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        if len(infos) > self.limits.max_files:
            raise UnsafeArchiveError(
                f"{self.label}: {len(infos)} entries, more than the limit of "
                f"{self.limits.max_files}",
                source=self.label,
            )
        names = _Names(self.label)
        kept: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            path = check_member_name(info.filename, self.label)
            self._check_kind(info, path)
            names.add(path, info.is_dir())
            if info.is_dir() or _skipped(path):
                continue
            total += info.file_size
            if total > self.limits.max_bytes:
                raise self._too_big(path, "the entries unpack to")
            if _bomb(info.file_size, info.compress_size, self.limits.max_ratio):
                raise UnsafeArchiveError(
                    f"{self.label}: refusing the entry {path!r}: it expands "
                    f"{info.file_size / max(info.compress_size, 1):.0f} times (limit "
                    f"{self.limits.max_ratio:g}): a zip bomb",
                    member=path,
                    source=self.label,
                )
            kept[path] = info
        return kept

    def _check_kind(self, info: zipfile.ZipInfo, path: str) -> None:
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        why = ""
        if kind == stat.S_IFLNK:
            why = "it is a symbolic link"
        elif kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            why = "it is not a regular file or folder"
        elif info.flag_bits & 0x1:
            why = "it is encrypted"
        if why:
            raise UnsafeArchiveError(
                f"{self.label}: refusing the entry {path!r}: {why}", member=path, source=self.label
            )

    def _too_big(self, path: str, what: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(
            f"{self.label}: {what} more than the limit of {self.limits.max_bytes} bytes "
            f"(at {path!r}); raise [plugins] max-archive-bytes if this plugin is genuine",
            member=path,
            source=self.label,
        )

    def read(self, path: str, limit: int) -> bytes:
        info = self._infos[path]
        try:
            with self._zip.open(info) as handle:
                data = handle.read(min(limit, info.file_size) + 1)
        except _DAMAGED as error:
            raise ManifestError(f"{self.label}: the entry {path!r} is damaged: {error}") from error
        if len(data) > min(limit, info.file_size):
            raise UnsafeArchiveError(
                f"{self.label}: {path!r} is larger than declared or than {limit} bytes",
                member=path,
                source=self.label,
            )
        return data

    def extract(self, destination: str, paths: dict[str, str]) -> None:
        total = 0
        for path, relative in paths.items():
            info = self._infos[path]
            target = _target(destination, relative)
            written = 0
            try:
                with self._zip.open(info) as source, _create(target) as sink:
                    while chunk := source.read(_CHUNK):
                        written += len(chunk)
                        total += len(chunk)
                        if written > info.file_size:
                            raise UnsafeArchiveError(
                                f"{self.label}: {path!r} unpacks to more bytes than it declares",
                                member=path,
                                source=self.label,
                            )
                        if total > self.limits.max_bytes:
                            raise self._too_big(path, "the entries unpack to")
                        sink.write(chunk)
            except _DAMAGED as error:
                raise ManifestError(
                    f"{self.label}: the entry {path!r} is damaged: {error}", source=self.label
                ) from error

    def close(self) -> None:
        self._zip.close()


class DirTree:
    """A folder; symlinks are followed only to files inside it."""

    def __init__(self, root: str, limits: Limits, *, only: Iterable[str] | None = None) -> None:
        self.label = root
        self.root = os.path.realpath(root)
        self.limits = limits
        self.files: dict[str, int] = {}
        wanted = None if only is None else set(only)
        names = _Names(root)
        for path in self._walk() if wanted is None else sorted(wanted):
            size = self._check(path)
            names.add(path, False)
            self.files[path] = size
            if len(self.files) > limits.max_files:
                raise UnsafeArchiveError(f"{root}: more than {limits.max_files} files", source=root)
            if sum(self.files.values()) > limits.max_bytes:
                raise UnsafeArchiveError(
                    f"{root}: more than the limit of {limits.max_bytes} bytes; raise "
                    "[plugins] max-archive-bytes if this plugin is genuine",
                    source=root,
                )

    def _walk(self) -> list[str]:
        found: list[str] = []
        for base, dirs, files in os.walk(self.root):
            relative = os.path.relpath(base, self.root)
            prefix = "" if relative == "." else relative.replace(os.sep, "/") + "/"
            for name in list(dirs):
                full = os.path.join(base, name)
                if name in _SKIPPED_DIRS:
                    dirs.remove(name)
                elif os.path.islink(full):
                    self._refuse_link(prefix + name, full, "a symbolic link to a folder")
            found += [prefix + name for name in files if name not in _SKIPPED_FILES]
        return sorted(path for path in found if not _skipped(path))

    def _check(self, path: str) -> int:
        check_member_name(path, self.label)
        full = os.path.join(self.root, *path.split("/"))
        real = os.path.realpath(full)
        if os.path.commonpath([real, self.root]) != self.root:
            self._refuse_link(path, full, "a symbolic link that points outside the plugin")
        try:
            info = os.stat(real)
        except OSError as error:
            raise ManifestError(f"{self.label}: cannot read {path!r}: {error}") from error
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeArchiveError(
                f"{self.label}: refusing {path!r}: not a regular file",
                member=path,
                source=self.label,
            )
        return info.st_size

    def _refuse_link(self, path: str, full: str, what: str) -> None:
        raise UnsafeArchiveError(
            f"{self.label}: refusing {path!r}: {what} ({os.readlink(full)!r})"
            if os.path.islink(full)
            else f"{self.label}: refusing {path!r}: {what}",
            member=path,
            source=self.label,
        )

    def read(self, path: str, limit: int) -> bytes:
        with open(os.path.join(self.root, *path.split("/")), "rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise UnsafeArchiveError(f"{self.label}: {path!r} is larger than {limit} bytes")
        return data

    def extract(self, destination: str, paths: dict[str, str]) -> None:
        for path, relative in paths.items():
            full = os.path.realpath(os.path.join(self.root, *path.split("/")))
            if os.path.commonpath([full, self.root]) != self.root:  # changed since the check
                self._refuse_link(path, full, "a symbolic link that points outside the plugin")
            with open(full, "rb") as source, _create(_target(destination, relative)) as sink:
                while chunk := source.read(_CHUNK):
                    sink.write(chunk)

    def close(self) -> None:
        return None


def _skipped(path: str) -> bool:
    parts = path.split("/")
    return any(part in _SKIPPED_DIRS for part in parts[:-1]) or parts[-1] in _SKIPPED_FILES


def _bomb(size: int, compressed: int, max_ratio: float) -> bool:
    return size > _RATIO_FLOOR and size > max_ratio * max(compressed, 1)


def _target(destination: str, relative: str) -> str:
    check_member_name(relative, destination)
    target = os.path.join(destination, *relative.split("/"))
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    real_parent = os.path.realpath(os.path.dirname(target))
    if os.path.commonpath([real_parent, os.path.realpath(destination)]) != os.path.realpath(
        destination
    ):
        raise UnsafeArchiveError(f"refusing to write {relative!r} outside {destination!r}")
    return target


def _create(path: str) -> BinaryIO:
    # "x": O_CREAT | O_EXCL, which also refuses to follow a symlink planted at the path.
    return open(path, "xb")
