"""The archive format of ``lazyext pack``: a tar stream, read and written safely.

An archive is a tar stream, compressed with zstd (``.tar.zst``, when the optional
``zstandard`` module is importable) or gzip (``.tar.gz``), holding::

    lazyext-pack.json                         the manifest (first member), with the
                                              environment's lock (pylock.toml text)
    entries/<key>/<platform>/<gen>/entry.json  each entry's metadata
    entries/<key>/<platform>/<gen>/target/...  its install, without __pycache__
    entries/<key>/<platform>/<gen>/data/...    its wheels' data schemes

Members are written from files of lazyext's own installs, and read only as regular
files and directories below an entry the manifest lists (:func:`member_place`).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import stat
import tarfile
import time
from dataclasses import dataclass, field
from typing import IO, Any, Final

from lazyext import _trust
from lazyext._errors import LazyextError
from lazyext._store.entries import Entry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

FORMAT: Final = 1
MANIFEST: Final = "lazyext-pack.json"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC: Final = b"\x1f\x8b"
KEY: Final = re.compile(r"[0-9a-f]{16,64}")
GENERATION: Final = re.compile(r"g[0-9]{1,24}(\.[0-9]{1,10})?")
MAX_JSON: Final = 1 << 20
#: Not shipped: derived (``__pycache__``: rebuilt on import) or uv's own lock file.
_SKIPPED: Final = frozenset({"__pycache__", ".lock"})


class PackError(LazyextError, ValueError):
    """An archive that cannot be packed or is refused on unpack (nothing was written)."""


@dataclass(slots=True)
class PackReport:
    path: str
    entries: list[str] = field(default_factory=list)  # "requirement (key)"
    files: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    published: list[str] = field(default_factory=list)  # unpack: keys published
    skipped: list[str] = field(default_factory=list)  # unpack: keys already served

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}


def default_suffix() -> str:
    """``.tar.zst`` where ``zstandard`` is importable, else ``.tar.gz`` (README: sizes)."""
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return ".tar.gz"
    return ".tar.zst"


def compression_for(output: str) -> str:
    if output.endswith((".tar.zst", ".tzst")):
        _zstandard()
        return "zst"
    if output.endswith((".tar.gz", ".tgz")):
        return "gz"
    if output.endswith(".tar"):
        return ""
    raise PackError(
        f"{output}: unknown archive type; name it *.tar.zst, *.tar.gz or *.tar "
        f"(the default here: *{default_suffix()})"
    )


def _zstandard() -> Any:
    try:
        import zstandard
    except ImportError as error:
        raise PackError(
            "zstd archives need the zstandard module: pip install 'lazyext[zstd]' (or use "
            "a .tar.gz archive)"
        ) from error
    return zstandard


class open_output:
    def __init__(self, path: str, compression: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        self.raw: IO[bytes] = open(os.open(path, flags, 0o600), "wb")  # noqa: SIM115
        self.stream: Any = self.raw
        if compression == "zst":
            self.stream = (
                _zstandard()
                .ZstdCompressor(level=3, threads=-1)
                .stream_writer(self.raw, closefd=False)
            )
        elif compression == "gz":
            self.stream = gzip.GzipFile(fileobj=self.raw, mode="wb", compresslevel=6, mtime=0)

    def __enter__(self) -> Any:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        try:
            if self.stream is not self.raw:
                self.stream.close()
            self.raw.flush()
            os.fsync(self.raw.fileno())
        finally:
            self.raw.close()


def files_of(entry: Entry) -> Iterator[tuple[str, int]]:
    """``(path relative to the generation, size)`` of every file of ``entry``'s install
    (``target/...`` then ``data/...``), sorted."""
    for base, directories, files in _walk(entry.path, ("target", "data")):
        directories[:] = sorted(d for d in directories if d not in _SKIPPED)
        for name in sorted(files):
            if name in _SKIPPED:
                continue
            path = os.path.join(base, name)
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                raise PackError(
                    f"{path}: not a regular file (a link or a device); lazyext installs "
                    "have none: verify the cache (`lazyext verify`) and warm it again"
                )
            yield os.path.relpath(path, entry.path).replace(os.sep, "/"), info.st_size
        for name in directories:
            if os.path.islink(os.path.join(base, name)):
                raise PackError(f"{os.path.join(base, name)}: a symlink inside an install")


def _walk(path: str, names: tuple[str, ...]) -> Iterator[tuple[str, list[str], list[str]]]:
    for name in names:
        yield from os.walk(os.path.join(path, name))


def add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    archive.addfile(info, io.BytesIO(data))


def add_file(archive: tarfile.TarFile, name: str, target: str, relative: str) -> None:
    path = os.path.join(target, relative)
    with open(path, "rb") as handle:
        stat = os.fstat(handle.fileno())
        info = tarfile.TarInfo(name)
        info.size = stat.st_size
        info.mode = 0o700 if stat.st_mode & 0o100 else 0o600
        info.mtime = int(stat.st_mtime)
        archive.addfile(info, handle)


def open_input(path: str) -> tuple[IO[bytes], Any]:
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    magic = raw.read(4)
    raw.seek(0)
    if magic.startswith(_ZSTD_MAGIC):
        try:
            zstandard = _zstandard()
        except PackError:
            raw.close()
            raise
        return raw, zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    if magic.startswith(_GZIP_MAGIC):
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")
    return raw, raw


def member_place(path: str, member: tarfile.TarInfo, expected: dict[str, Any]) -> tuple[str, str]:
    """``(entry base, path inside it)`` for a member; refuses anything else."""
    name = member.name
    parts = name.split("/")
    if (
        name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise PackError(
            f"{path}: refusing the member {name!r}: absolute or '..' path; nothing was unpacked"
        )
    if not (member.isfile() or member.isdir()):
        kind = "a link" if member.issym() or member.islnk() else "a device or special file"
        raise PackError(f"{path}: refusing the member {name!r}: {kind}; nothing was unpacked")
    base, relative = "/".join(parts[:4]), "/".join(parts[4:])
    if base not in expected or not (
        relative in {"entry.json", "target", "data"} or relative.startswith(("target/", "data/"))
    ):
        raise PackError(
            f"{path}: refusing the member {name!r}: not part of an entry the manifest lists; "
            "nothing was unpacked"
        )
    if relative == "entry.json" and member.size > MAX_JSON:
        raise PackError(f"{path}: refusing the member {name!r}: too large")
    return base, relative


def makedirs(staging: str, directory: str) -> None:
    """Create ``directory`` (inside ``staging``) 0700, one checked component at a time."""
    relative = os.path.relpath(directory, staging)
    path = staging
    for name in relative.split(os.sep):
        if name in ("", "."):
            continue
        path = os.path.join(path, name)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            _trust.check_private_dir(path, what="staging directory")


def write_member(
    destination: str, source: IO[bytes], member: tarfile.TarInfo, spend: Callable[[int], None]
) -> None:
    """Write a member's bytes, each block counted by ``spend`` before it is written."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    mode = 0o700 if member.mode & 0o100 else 0o600
    try:
        descriptor = os.open(destination, flags, mode)
    except FileExistsError as error:
        raise PackError(f"{member.name!r} appears twice in the archive") from error
    with open(descriptor, "wb") as handle:
        while block := source.read(1 << 20):
            spend(len(block))
            handle.write(block)


#: What a tar writer pads after the end-of-archive blocks is at most a record (10 KiB).
_MAX_TRAILER: Final = 1 << 20


def drain(stream: IO[bytes], path: str) -> None:
    """Read to the end: a decoder checks its trailer (gzip CRC, zstd frame) only there.
    More than padding after the end of the archive is refused, not decompressed."""
    trailing = 0
    while block := stream.read(1 << 16):
        trailing += len(block)
        if trailing > _MAX_TRAILER:
            raise PackError(
                f"{path}: more than {_MAX_TRAILER} bytes after the end of the archive; "
                "nothing was unpacked: it is not an archive `lazyext pack` wrote"
            )


#: What a file or a directory costs on disk beyond its bytes (one block), so that
#: empty files and directories count against the budget too.
BLOCK: Final = 4096
#: The share of the free space an unpack may use (the rest stays free for others).
SHARE: Final = 0.95


class Budget:
    """What an archive may write while it is unpacked, counted as it streams.

    Each entry may hold the files and bytes its manifest declares (directories: one per
    file, and ``target``, ``data``); all of it together no more than :data:`SHARE` of
    the free space where the cache is. The first byte over either is refused: nothing
    beyond what the manifest declares is ever written.
    """

    def __init__(self, path: str, declared: dict[str, tuple[int, int]], free: int) -> None:
        self.path = path
        self.declared = declared  # entry base -> (files, bytes)
        self.used = {base: [0, 0, 0] for base in declared}  # files, bytes, directories
        self.limit = int(free * SHARE)
        self.total = 0
        files = sum(files for files, _ in declared.values())
        size = sum(size for _, size in declared.values())
        need = size + (files + len(declared)) * BLOCK
        if need > self.limit:
            raise PackError(
                f"{path}: the archive declares {size} bytes in {files} files (about {need} "
                f"bytes on disk), more than the {self.limit} bytes an unpack may use of the "
                f"{free} free where the cache is; free some space first; nothing was unpacked"
            )

    def directory(self, base: str, name: str) -> None:
        used = self.used[base]
        used[2] += 1
        if used[2] > self.declared[base][0] + 2:
            self._larger(base, name, f"{self.declared[base][0] + 2} directories")
        self._charge(BLOCK, name)

    def file(self, base: str, member: tarfile.TarInfo, counted: bool) -> Callable[[int], None]:
        """Admit a file member (refused here if its declared size is already too
        large); the function that counts its bytes as they are written."""
        used = self.used[base]
        files, size = self.declared[base]
        if counted:
            used[0] += 1
            if used[0] > files:
                self._larger(base, member.name, f"{files} files")
            if used[1] + member.size > size:
                self._larger(base, member.name, f"{size} bytes")
        self._charge(BLOCK, member.name)

        def spend(count: int) -> None:
            if counted:
                used[1] += count
                if used[1] > size:
                    self._larger(base, member.name, f"{size} bytes")
            self._charge(count, member.name)

        return spend

    def _charge(self, count: int, name: str) -> None:
        self.total += count
        if self.total > self.limit:
            raise PackError(
                f"{self.path}: unpacking {name!r} would use more than the {self.limit} bytes "
                "an unpack may use of the free space where the cache is; free some space "
                "first; nothing was unpacked"
            )

    def _larger(self, base: str, name: str, declared: str) -> None:
        raise PackError(
            f"{self.path}: the archive is larger than it declares: {base} holds more than "
            f"the {declared} its manifest declares (at {name!r}); nothing was unpacked (a "
            "damaged archive, or one made to fill the disk)"
        )

    def counts(self, base: str) -> tuple[int, int]:
        files, size, _ = self.used[base]
        return files, size
