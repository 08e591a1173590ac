"""An archive from elsewhere (issue 22 #1, #2, #4): its packed lock is checked like a
user's lock before anything is published; sizes are counted while it streams."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import io
import json
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

import lazyext
from faults.kit import generations, staging
from lazyext import cli
from lazyext._pack import archive as _archive
from lazyext._pack import pack as _pack
from lazyext._pack import unpack as _unpack
from lazyext._settings import load as _load
from lazyext._settings.config import Config
from lazyext._use import warm

from support import Wheelhouse

EXTENSIONS = {"alpha": "alpha", "beta": "beta", "gamma": "gamma"}


def configure(house: Wheelhouse, cache: Path) -> Config:
    return _load.load(EXTENSIONS, house.options(cache))


@pytest.fixture
def packed(house: Wheelhouse, tmp_path: Path) -> Path:
    """A sound archive of three entries (alpha, beta, gamma) with its packed lock."""
    config = configure(house, tmp_path / "built")
    assert all(isinstance(path, Path) for path in warm(config=config).values())
    path = tmp_path / "env.tar.gz"
    _pack.pack(config, str(path))
    return path


def nothing_published(cache: Path) -> bool:
    return generations(cache) == [] and staging(cache) == [] and not list(cache.glob("envs/*/*"))


def read_members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path) as archive:
        return [(m, archive.extractfile(m).read()) for m in archive.getmembers() if m.isfile()]  # type: ignore[union-attr]


def write_archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes | IO[bytes]]]) -> None:
    with (
        gzip.open(path, "wb", compresslevel=1) as raw,
        tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as archive,
    ):
        for member, data in members:
            if isinstance(data, bytes):
                member.size = len(data)
            archive.addfile(member, io.BytesIO(data) if isinstance(data, bytes) else data)


def manifest(members: list[tuple[tarfile.TarInfo, bytes]]) -> dict[str, Any]:
    member, data = members[0]
    assert member.name == _archive.MANIFEST
    result: dict[str, Any] = json.loads(data)
    return result


def with_manifest(
    members: list[tuple[tarfile.TarInfo, bytes]], data: dict[str, Any]
) -> list[tuple[tarfile.TarInfo, bytes | IO[bytes]]]:
    return [(members[0][0], json.dumps(data).encode()), *members[1:]]


class Counted:
    """A member's bytes as they are read by unpack, counted (what reaches the disk)."""

    total = 0

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source

    def read(self, size: int = -1) -> bytes:
        block = self.source.read(size)
        Counted.total += len(block)
        return block


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> type[Counted]:
    """Counts every byte unpack writes into its staging directory."""
    original = _unpack.write_member
    Counted.total = 0

    def counting(destination: str, source: IO[bytes], *rest: Any) -> None:
        original(destination, Counted(source), *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(_unpack, "write_member", counting)
    return Counted


def _import(name: str) -> Any:
    sys.modules.pop(name, None)
    importlib.invalidate_caches()
    return importlib.import_module(name)


# -- #1: a packed lock names only the sources the config allows -------------------------


def test_a_packed_lock_pointing_at_a_file_url_is_refused_and_nothing_is_stored(
    house: Wheelhouse, tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The attack: no entries at all, and a lock that points alpha at a wheel of
    # someone else's; stored as this config's environment, the next `import alpha`
    # would install and run it.
    mark = tmp_path / "evil-ran"
    elsewhere = Wheelhouse(tmp_path / "elsewhere")
    wheel = elsewhere.build(
        "alpha", "1.0", {"alpha/__init__.py": f"open({str(mark)!r}, 'w').close()\nNAME = 'evil'\n"}
    )
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lock = (
        'lock-version = "1.0"\ncreated-by = "uv"\n\n[[packages]]\nname = "alpha"\n'
        f'version = "1.0"\narchive = {{ url = "{wheel.as_uri()}", '
        f'hashes = {{ sha256 = "{digest}" }} }}\n'
    )
    config = _load.load({"alpha": "alpha"}, house.options(cache_dir))
    manifest = {
        "format": _archive.FORMAT,
        "platform": config.platform,
        "environment": {"key": config.env_key, "pylock": lock},
        "entries": [],
    }
    path = tmp_path / "env.tar.gz"
    write_archive(path, [(tarfile.TarInfo(_archive.MANIFEST), json.dumps(manifest).encode())])
    Path("lazyext.toml").write_text(
        house.toml() + '[[extensions]]\nname = "alpha"\npackage = "alpha"\n', encoding="utf-8"
    )
    assert cli.main(["unpack", str(path)]) == 1
    error = capsys.readouterr().err
    print(error)
    assert f"refusing the archive: {path} (its packed pylock.toml), line 7: package alpha" in error
    assert f"comes from the archive {wheel.as_uri()}, not from this config's" in error
    assert "nothing was unpacked" in error
    assert nothing_published(cache_dir)
    lazyext.activate()
    assert _import("alpha").NAME == "alpha"  # resolved from the config's find-links
    assert not mark.exists()


# -- #2: everything is checked before anything is published ------------------------------


def _damage_lock(how: str) -> Callable[[str], str]:
    alpha = 'name = "alpha"\nversion = "1.0"'
    changes = {
        "not TOML": ("[[packages]]", "[[packages"),
        "a carriage return in a version": (alpha, alpha.replace('1.0"', '1.0\\r-r /etc/passwd"')),
        "a marker that does not parse": (alpha, alpha + "\nmarker = \"os_name ~ 'x'\""),
        "a direct source": (alpha, alpha + '\ndirectory = { path = "/srv/x" }'),
    }
    old, new = changes[how]
    return lambda text: text.replace(old, new, 1)


@pytest.mark.parametrize(
    "how",
    [
        "not TOML",
        "a carriage return in a version",
        "a marker that does not parse",
        "a direct source",
    ],
)
def test_an_archive_with_a_damaged_packed_lock_publishes_nothing(
    packed: Path, house: Wheelhouse, tmp_path: Path, how: str
) -> None:
    members = read_members(packed)
    data = manifest(members)
    assert len(data["entries"]) == 3
    data["environment"]["pylock"] = _damage_lock(how)(data["environment"]["pylock"])
    write_archive(packed, with_manifest(members, data))
    target = tmp_path / "target"
    with pytest.raises(_archive.PackError) as caught:
        _unpack.unpack(configure(house, target), str(packed))
    assert nothing_published(target)
    print(caught.value)
    assert str(caught.value).startswith(f"refusing the archive: {packed} (its packed pylock.toml")
    assert str(caught.value).endswith("; nothing was unpacked")


# -- #4: sizes counted while streaming ---------------------------------------------------


class Zeros(io.RawIOBase):
    """``size`` zero bytes, made as they are read (never held in memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


BOMB = 64 << 20


def _with_zeros(members: list[tuple[tarfile.TarInfo, bytes]]) -> Iterator[Any]:
    """The archive's members with 64 MiB of zeros inside its first entry, right after
    the manifest (the manifest is left as it was: it does not declare them)."""
    base = next(m.name for m, _ in members if m.name.endswith("/entry.json")).rsplit("/", 1)[0]
    zeros = tarfile.TarInfo(f"{base}/target/alpha/zeros.bin")
    zeros.size = BOMB
    yield members[0]
    yield zeros, Zeros(BOMB)
    yield from members[1:]


def test_an_archive_larger_than_it_declares_is_refused_at_the_first_byte_over(
    packed: Path, house: Wheelhouse, tmp_path: Path, written: type[Counted]
) -> None:
    members = read_members(packed)
    declared = sum(item["bytes"] for item in manifest(members)["entries"])
    write_archive(packed, list(_with_zeros(members)))
    assert packed.stat().st_size < BOMB // 100  # a small file that inflates a lot
    target = tmp_path / "target"
    with pytest.raises(_archive.PackError) as caught:
        _unpack.unpack(configure(house, target), str(packed))
    assert written.total <= declared  # not one byte of the zeros was written
    assert nothing_published(target)
    message = str(caught.value)
    print(message)
    assert message.startswith(f"{packed}: the archive is larger than it declares: entries/")
    assert "(at 'entries/" in message
    assert "zeros.bin'); nothing was unpacked" in message
    assert "damaged or truncated" not in message


def test_an_archive_declaring_more_than_the_disk_has_free_is_refused_before_writing(
    packed: Path, house: Wheelhouse, tmp_path: Path, written: type[Counted]
) -> None:
    members = read_members(packed)
    data = manifest(members)
    data["entries"][0]["files"] += 1  # declared honestly: 64 MiB of zeros
    data["entries"][0]["bytes"] += BOMB
    write_archive(packed, [*with_manifest(members, data)[:1], *list(_with_zeros(members))[1:]])
    target = tmp_path / "target"
    free = BOMB // 2  # what the disk holding the cache has free
    real = _unpack.shutil.disk_usage
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(_unpack.shutil, "disk_usage", lambda path: real(path)._replace(free=free))
    try:
        with pytest.raises(_archive.PackError) as caught:
            _unpack.unpack(configure(house, target), str(packed))
    finally:
        monkeypatch.undo()
    assert written.total == 0
    assert nothing_published(target)
    message = str(caught.value)
    print(message)
    assert message.startswith(f"{packed}: the archive declares ")
    assert f"of the {free} free where the cache is; free some space first" in message
