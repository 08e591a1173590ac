"""``lazyext pack`` and ``unpack``: ship the published entries of an environment.

An archive is a tar stream, compressed with zstd (``.tar.zst``, when the optional
``zstandard`` module is importable) or gzip (``.tar.gz``), holding::

    lazyext-pack.json                         the manifest (first member), with the
                                              environment's lock (pylock.toml text)
    entries/<key>/<platform>/<gen>/entry.json  each entry's metadata
    entries/<key>/<platform>/<gen>/target/...  its install, without __pycache__
    entries/<key>/<platform>/<gen>/data/...    its wheels' data schemes (lazyext._schemes)

Unpacking trusts nothing in the archive: every member name and type is checked
(regular files and directories only, below one of the manifest's entries), the
platform must be this interpreter's, counts and sizes must match the manifest, every
file must match its wheel's ``RECORD`` (:mod:`lazyext._verify`), and the metadata is
rewritten by lazyext, never loaded from the archive with ``marshal``. All of it is
extracted into a private staging directory first; only when the whole archive passed
are the entries published, each by one ``rename`` under its key's lock, skipping any
key the cache already serves. So a refused or interrupted unpack leaves nothing that a
reader would use, and two processes unpacking the same archive publish one copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Final

from lazyext import _cache
from lazyext._errors import LazyextError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lazyext._cache import Entry
    from lazyext._config import Config

FORMAT: Final = 1
MANIFEST: Final = "lazyext-pack.json"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC: Final = b"\x1f\x8b"
_KEY: Final = re.compile(r"[0-9a-f]{16,64}")
_GENERATION: Final = re.compile(r"g[0-9]{1,24}(\.[0-9]{1,10})?")
_PLATFORM: Final = re.compile(r"[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+")
_MAX_JSON: Final = 1 << 20
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


def selection(config: Config, platform: str | None = None) -> list[Entry]:
    """The published entries the enabled extensions of ``config`` need on ``platform``.

    The one place that decides what an environment is made of, for pack and for the
    fleet integrations: every distribution of every enabled extension's closure, once.
    """
    from lazyext import _status
    from lazyext._record import replace

    platform = platform or config.platform
    config = replace(config, platform=platform) if platform != config.platform else config
    env = _status.stored_environment(config)
    found: dict[str, Entry] = {}
    missing = []
    for plan in config.plans:
        if plan.extension.package is None or not plan.extension.enabled or not plan.marker_ok:
            continue
        entries = _status.closure_entries(config, plan, env)
        if entries is None:
            missing.append(plan.name)
        for entry in entries or ():
            found.setdefault(entry.key, entry)
    if missing:
        raise PackError(
            f"not in the cache for {platform}: {', '.join(missing)}; run `lazyext warm` on "
            "a machine of that platform first"
        )
    return list(found.values())


def _environment_of(config: Config, platform: str) -> dict[str, Any] | None:
    """The stored environment's key and lock text, so that unpacking needs no resolution."""
    from lazyext import _environment, _status

    if platform != config.platform:
        return None
    env = _status.stored_environment(config)
    if env is None:
        return None
    root = _cache.ensure_root(config.settings.cache_dir)
    directory = _environment.env_dir(root, env.key, env.platform)
    try:
        with open(os.path.join(directory, _environment.LOCK_FILE), encoding="utf-8") as handle:
            return {"key": env.key, "pylock": handle.read()}
    except OSError:
        return None


def _restore_environment(config: Config, packed: dict[str, Any] | None, path: str) -> bool:
    """Store the packed environment for ``config`` when its lock covers every enabled
    extension (checked like a user's lock file): the versions that were packed are the
    ones this config then uses, whichever index it names, and nothing is resolved."""
    from lazyext import _environment, _lockfile, _resolve
    from lazyext._errors import LockFileError

    if not isinstance(packed, dict):
        return False
    text = packed.get("pylock")
    if not isinstance(text, str):
        raise PackError(f"{path}: damaged manifest (environment without its lock)")
    plans = _resolve.environment_plans(config)
    try:
        packages = _lockfile.parse(text, path)
    except LockFileError as error:
        raise PackError(f"{path}: damaged environment lock: {error}") from error
    try:
        _lockfile.check_covers(packages, {p.name: p.requirement for p in plans}, path)
    except LockFileError:
        return False  # packed for another config: its entries still serve, it resolves
    host = _resolve.host_distributions(config.settings.cache_dir)
    env = _resolve.build(config, config.env_key, plans, packages, host)
    _environment.store(_cache.ensure_root(config.settings.cache_dir), env, text)
    return True


# -- pack -------------------------------------------------------------------------------


def pack(config: Config, output: str, *, platform: str | None = None) -> PackReport:
    """Write the environment's entries to ``output`` (atomically: temp file + rename)."""
    started = time.monotonic()
    platform = platform or config.platform
    entries = selection(config, platform)
    output = os.path.abspath(output)
    compression = _compression_for(output)
    report = PackReport(path=output)
    listing = [(entry, list(_files(entry))) for entry in entries]
    manifest = {
        "format": FORMAT,
        "platform": platform,
        "environment": _environment_of(config, platform),
        "entries": [
            {
                "key": entry.key,
                "platform": entry.platform,
                "generation": os.path.basename(entry.path),
                "requirement": entry.requirement,
                "files": len(files),
                "bytes": sum(size for _relative, size in files),
            }
            for entry, files in listing
        ],
    }
    temporary = f"{output}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        with (
            _open_output(temporary, compression) as stream,
            tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as archive,
        ):
            _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=1).encode())
            for entry, files in listing:
                base = "/".join(
                    ("entries", entry.key, entry.platform, os.path.basename(entry.path))
                )
                metadata = _cache.entry_metadata(entry)
                _add_bytes(archive, f"{base}/entry.json", json.dumps(metadata).encode())
                for relative, size in files:
                    _add_file(archive, f"{base}/{relative}", entry.path, relative)
                    report.files += 1
                    report.bytes_in += size
                report.entries.append(f"{entry.requirement} ({entry.key})")
        os.replace(temporary, output)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise
    report.bytes_out = os.path.getsize(output)
    report.seconds = time.monotonic() - started
    return report


def _compression_for(output: str) -> str:
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


class _open_output:
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
            import gzip

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


def _files(entry: Entry) -> Iterator[tuple[str, int]]:
    """``(path relative to the generation, size)`` of every file of ``entry``'s install
    (``target/...`` then ``data/...``), sorted."""
    import stat

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


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    archive.addfile(info, io.BytesIO(data))


def _add_file(archive: tarfile.TarFile, name: str, target: str, relative: str) -> None:
    path = os.path.join(target, relative)
    with open(path, "rb") as handle:
        stat = os.fstat(handle.fileno())
        info = tarfile.TarInfo(name)
        info.size = stat.st_size
        info.mode = 0o700 if stat.st_mode & 0o100 else 0o600
        info.mtime = int(stat.st_mtime)
        archive.addfile(info, handle)


# -- unpack -----------------------------------------------------------------------------


def unpack(config: Config, path: str) -> PackReport:
    """Import the entries of archive ``path`` into the cache of ``config``.

    Raises :class:`PackError` (nothing published) for a damaged, truncated, foreign-
    platform or path-traversing archive. Keys the cache (or a layer) already serves
    are skipped, so unpacking twice is harmless.
    """
    from lazyext._locks import key_lock

    started = time.monotonic()
    settings = config.settings
    root = _cache.ensure_root(settings.cache_dir)
    report = PackReport(path=os.path.abspath(path))
    staging = _cache.new_staging(root, "unpack")
    try:
        manifest, packed_env = _extract(path, staging, config.platform, report)
        ready = [_check_entry(staging, item, config.platform) for item in manifest]
        for entry in ready:
            report.entries.append(f"{entry.requirement} ({entry.key})")
            with key_lock(root, entry.key, settings.lock_timeout):
                if _cache.find_entry(root, entry.key, entry.platform, settings) is not None:
                    report.skipped.append(entry.key)
                    continue
                _cache.publish(entry.path, root, entry.key, entry.platform)
                report.published.append(entry.key)
        # Last: an environment is stored only when every entry it names is in place.
        _restore_environment(config, packed_env, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.bytes_out = os.path.getsize(path)
    report.seconds = time.monotonic() - started
    return report


def _open_input(path: str) -> tuple[IO[bytes], Any]:
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
        import gzip

        return raw, gzip.GzipFile(fileobj=raw, mode="rb")
    return raw, raw


def _extract(
    path: str, staging: str, platform: str, report: PackReport
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Extract ``path`` into ``staging``; the manifest's entries, counted and checked,
    and the packed environment."""
    try:
        raw, stream = _open_input(path)
    except OSError as error:
        raise PackError(f"{path}: cannot read the archive: {error}") from error
    try:
        with raw, tarfile.open(fileobj=stream, mode="r|") as archive:
            manifest, packed_env = _read_manifest(path, archive, platform)
            expected = {
                "/".join(("entries", item["key"], item["platform"], item["generation"])): item
                for item in manifest
            }
            seen: dict[str, list[int]] = {base: [0, 0] for base in expected}
            while (member := archive.next()) is not None:
                base, relative = _member_place(path, member, expected)
                destination = os.path.join(staging, *base.split("/"), *relative.split("/"))
                if member.isdir():
                    _makedirs(staging, destination)
                    continue
                _makedirs(staging, os.path.dirname(destination))
                source = archive.extractfile(member)
                assert source is not None  # a regular file
                _write(destination, source, member)
                if relative.startswith(("target/", "data/")):
                    seen[base][0] += 1
                    seen[base][1] += member.size
            _drain(stream)
    except PackError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError, KeyError) as error:
        raise PackError(
            f"{path}: damaged or truncated archive ({type(error).__name__}: {error}); "
            "nothing was unpacked: copy it again"
        ) from error
    except Exception as error:  # zstandard.ZstdError and other decoder errors
        raise PackError(
            f"{path}: damaged or truncated archive ({type(error).__name__}: {error}); "
            "nothing was unpacked: copy it again"
        ) from error
    for base, item in expected.items():
        if seen[base] != [item["files"], item["bytes"]]:
            raise PackError(
                f"{path}: truncated or altered archive: {base} has {seen[base][0]} files "
                f"({seen[base][1]} bytes), the manifest says {item['files']} "
                f"({item['bytes']} bytes); nothing was unpacked: copy it again"
            )
    return list(expected.values()), packed_env


def _read_manifest(
    path: str, archive: tarfile.TarFile, platform: str
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    first = archive.next()
    if first is None or first.name != MANIFEST or not first.isfile() or first.size > _MAX_JSON:
        raise PackError(f"{path}: not a lazyext archive (no {MANIFEST} at its start)")
    source = archive.extractfile(first)
    assert source is not None
    try:
        manifest = json.loads(source.read())
    except ValueError as error:
        raise PackError(f"{path}: damaged manifest ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise PackError(
            f"{path}: archive format {found!r} is not {FORMAT}; pack it again with this "
            "version of lazyext"
        )
    if manifest.get("platform") != platform:
        raise PackError(
            f"{path}: packed for {manifest.get('platform')}, but this interpreter is "
            f"{platform}; pack on a machine like this one (or `lazyext pack --platform "
            f"{platform}` from a cache that has it)"
        )
    items = manifest.get("entries")
    if not isinstance(items, list):
        raise PackError(f"{path}: damaged manifest (no entry list)")
    for item in items:
        valid = (
            isinstance(item, dict)
            and isinstance(item.get("key"), str)
            and _KEY.fullmatch(item["key"])
            and item.get("platform") == platform
            and isinstance(item.get("generation"), str)
            and _GENERATION.fullmatch(item["generation"])
            and isinstance(item.get("files"), int)
            and isinstance(item.get("bytes"), int)
        )
        if not valid:
            raise PackError(f"{path}: damaged or foreign manifest entry {item!r}")
    packed_env = manifest.get("environment")
    return items, packed_env if isinstance(packed_env, dict) else None


def _member_place(path: str, member: tarfile.TarInfo, expected: dict[str, Any]) -> tuple[str, str]:
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
    if relative == "entry.json" and member.size > _MAX_JSON:
        raise PackError(f"{path}: refusing the member {name!r}: too large")
    return base, relative


def _makedirs(staging: str, directory: str) -> None:
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
            _cache.check_private_dir(path, what="staging directory")


def _write(destination: str, source: IO[bytes], member: tarfile.TarInfo) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    mode = 0o700 if member.mode & 0o100 else 0o600
    try:
        descriptor = os.open(destination, flags, mode)
    except FileExistsError as error:
        raise PackError(f"{member.name!r} appears twice in the archive") from error
    with open(descriptor, "wb") as handle:
        shutil.copyfileobj(source, handle, 1 << 20)


def _drain(stream: IO[bytes]) -> None:
    """Read to the end: a decoder checks its trailer (gzip CRC, zstd frame) only there."""
    while stream.read(1 << 20):
        pass


def _check_entry(staging: str, item: dict[str, Any], platform: str) -> Entry:
    """The staged generation of manifest ``item``, metadata rewritten and verified."""
    from lazyext import _verify

    path = os.path.join(staging, "entries", item["key"], item["platform"], item["generation"])
    try:
        with open(os.path.join(path, "entry.json"), "rb") as handle:
            data = json.loads(handle.read(_MAX_JSON))
        entry = _cache._entry_from(data, path)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise PackError(
            f"{item['key']}: missing or damaged entry.json ({error}); nothing was unpacked"
        ) from error
    if (entry.key, entry.platform) != (item["key"], platform):
        raise PackError(
            f"{item['key']}: entry.json describes {entry.key} for {entry.platform}; "
            "nothing was unpacked"
        )
    problems = _verify.verify(entry)
    if problems:
        listing = "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
        raise PackError(
            f"{entry.requirement} ({entry.key}) does not match its wheels' RECORD: {listing}; "
            "nothing was unpacked: pack it again from a cache that `lazyext verify` passes"
        )
    _cache.write_metadata(path, entry)
    return entry
