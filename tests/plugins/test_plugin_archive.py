"""Unsafe zips and folders are refused before anything is written."""

from __future__ import annotations

import os
import sqlite3
import struct
import warnings
import zipfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from plugkit import plugin_files, tree_of, write_folder, write_tree, write_zip

from lazyext.plugins import ManifestError, PluginManager, UnsafeArchiveError

GOOD = plugin_files("zplug")


def _written(plugins_dir: Path) -> list[str]:
    """What an operation left in the plugins directory, bookkeeping folders aside."""
    left = [p for p in tree_of(plugins_dir) if not p.startswith(".lazyext")]
    left += tree_of(plugins_dir / ".lazyext" / "staging")
    return left


def _rows(tmp_path: Path) -> int:
    with closing(sqlite3.connect(tmp_path / "data" / "state.sqlite3")) as connection:
        return int(connection.execute("SELECT count(*) FROM plugins").fetchone()[0])


def _zip_with(path: Path, entries: list[zipfile.ZipInfo | tuple[str, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in GOOD.items():
                archive.writestr(name, text)
            for entry in entries:
                if isinstance(entry, zipfile.ZipInfo):
                    archive.writestr(entry, b"data")
                else:
                    archive.writestr(*entry)
    return path


def _info(name: str, *, mode: int = 0) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def _patch(
    path: Path, name: str, local_offset: int, central_offset: int, fmt: str, *values: int
) -> None:
    """Rewrite a field of ``name``'s local header and central directory record."""
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo(name).header_offset
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, local + local_offset, *values)
    central = data.find(b"PK\x01\x02")
    while central != -1:
        length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + length] == name.encode():
            struct.pack_into(fmt, data, central + central_offset, *values)
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


MALICIOUS: list[tuple[str, list[zipfile.ZipInfo | tuple[str, bytes]], str]] = [
    ("dotdot", [("zplug/../../escaped.py", b"x")], "'..' path component"),
    ("dotdot-top", [("../escaped.py", b"x")], "'..' path component"),
    ("absolute", [("/tmp/lazyext-absolute.py", b"x")], "absolute path"),
    ("backslash", [("zplug\\..\\..\\escaped.py", b"x")], "backslash"),
    ("drive", [("C:/escaped.py", b"x")], "drive letter"),
    ("drive-relative", [("c:escaped.py", b"x")], "drive letter"),
    ("empty-part", [("zplug//x.py", b"x")], "empty"),
    ("control", [("zplug/a\nb.py", b"x")], "control character"),
    ("symlink", [_info("zplug/link.py", mode=0o120777)], "symbolic link"),
    ("fifo", [_info("zplug/pipe", mode=0o010644)], "not a regular file"),
    ("duplicate", [("zplug/run.py", b"# again\n")], "collides"),
    ("case", [("zplug/RUN.py", b"x")], "collides"),
    ("unicode", [("zplug/caf\u00e9.py", b"x"), ("zplug/cafe\u0301.py", b"x")], "collides"),
    ("file-and-folder", [("zplug/x", b"x"), ("zplug/x/y.py", b"x")], "both a file and a folder"),
    ("bomb", [("zplug/zeros.bin", bytes(4 << 20))], "zip bomb"),
]


@pytest.mark.parametrize(("case", "entries", "message"), MALICIOUS, ids=[m[0] for m in MALICIOUS])
def test_malicious_zip_is_refused_before_anything_is_written(
    manager: PluginManager,
    tmp_path: Path,
    plugins_dir: Path,
    case: str,
    entries: list[zipfile.ZipInfo | tuple[str, bytes]],
    message: str,
) -> None:
    archive = _zip_with(tmp_path / f"{case}.zip", entries)
    with pytest.raises(UnsafeArchiveError, match=message):
        manager.install(archive)
    assert _written(plugins_dir) == []
    assert _rows(tmp_path) == 0
    assert not (tmp_path / "escaped.py").exists()
    assert not Path("/tmp/lazyext-absolute.py").exists()


def test_size_limit_counts_unpacked_bytes(
    make_manager: Callable[..., PluginManager], tmp_path: Path, plugins_dir: Path
) -> None:
    config = tmp_path / "lazyext.toml"
    config.write_text("[plugins]\nmax-archive-bytes = 4096\n")
    manager = make_manager(config=config)
    archive = _zip_with(tmp_path / "big.zip", [("zplug/big.bin", os.urandom(8192))])
    with pytest.raises(UnsafeArchiveError, match="limit of 4096 bytes"):
        manager.install(archive)
    assert _written(plugins_dir) == []
    small = _zip_with(tmp_path / "small.zip", [])
    assert manager.install(small).id == "zplug"


def test_lying_sizes_are_caught_while_streaming_and_staging_is_removed(
    manager: PluginManager, tmp_path: Path, plugins_dir: Path
) -> None:
    path = tmp_path / "liar.zip"
    payload = b"A" * 5000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, text in GOOD.items():
            archive.writestr(name, text)
        archive.writestr("zplug/payload.bin", payload)
    # Declare 10 bytes instead of 5000 (compressed and uncompressed sizes).
    _patch(path, "zplug/payload.bin", 18, 20, "<II", 10, 10)
    with pytest.raises(ManifestError, match=r"damaged|larger"):
        manager.install(path)
    assert _written(plugins_dir) == []
    assert _rows(tmp_path) == 0


def test_encrypted_entry_is_refused(
    manager: PluginManager, tmp_path: Path, plugins_dir: Path
) -> None:
    path = _zip_with(tmp_path / "locked.zip", [("zplug/secret.py", b"X = 1\n")])
    _patch(path, "zplug/secret.py", 6, 8, "<H", 0x1)  # general purpose flag: encrypted
    with pytest.raises(UnsafeArchiveError, match="encrypted"):
        manager.install(path)
    assert _written(plugins_dir) == []


def test_not_a_zip(manager: PluginManager, tmp_path: Path) -> None:
    path = tmp_path / "junk.zip"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(ManifestError, match="neither a folder nor a zip"):
        manager.install(path)
    with pytest.raises(ManifestError, match="no such file"):
        manager.install(str(tmp_path / "missing.zip"))


def test_folder_links_outside_are_refused_inside_are_copied(
    manager: PluginManager, sources: Path, tmp_path: Path, plugins_dir: Path
) -> None:
    folder = write_folder(sources, "linky")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (folder / "leak.txt").symlink_to(secret)
    with pytest.raises(UnsafeArchiveError, match="points outside the plugin"):
        manager.install(folder)
    assert _written(plugins_dir) == []
    (folder / "leak.txt").unlink()
    (folder / "sub").mkdir()
    (folder / "dirlink").symlink_to(folder / "sub", target_is_directory=True)
    with pytest.raises(UnsafeArchiveError, match="symbolic link to a folder"):
        manager.install(folder)
    (folder / "dirlink").unlink()
    (folder / "alias.py").symlink_to(folder / "run.py")
    info = manager.install(folder)
    copied = Path(info.path, "linky", "alias.py")
    assert copied.is_file()
    assert not copied.is_symlink()


def test_bytecode_and_vcs_folders_are_not_copied(manager: PluginManager, sources: Path) -> None:
    folder = write_folder(sources, "tidy")
    write_tree(folder, {"__pycache__/run.cpython-311.pyc": b"\0", ".git/HEAD": "ref"})
    info = manager.install(folder)
    assert sorted(p.name for p in Path(info.path, "tidy").iterdir()) == ["__init__.py", "run.py"]


def test_zip_entries_land_only_inside_the_version_directory(
    manager: PluginManager, tmp_path: Path
) -> None:
    files = {**GOOD, "zplug/data/deep/file.txt": "x", "zplug_extra.py": "Z = 1\n"}
    info = manager.install(write_zip(tmp_path / "ok.zip", files))
    assert tree_of(Path(info.path)) == sorted(
        [
            "zplug",
            "zplug/__init__.py",
            "zplug/data",
            "zplug/data/deep",
            "zplug/data/deep/file.txt",
            "zplug/run.py",
            "zplug_extra.py",
        ]
    )


def test_tar_archives_are_refused(manager: PluginManager, sources: Path, tmp_path: Path) -> None:
    import tarfile

    folder = write_folder(sources, "tarred")
    archive = tmp_path / "tarred.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="tarred")
    with pytest.raises(ManifestError, match="neither a folder nor a zip"):
        manager.install(archive)
