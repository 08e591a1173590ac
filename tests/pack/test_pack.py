"""``lazyext pack`` / ``unpack``: round trip, idempotence, refusals, races and kills."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from faults.indexserver import IndexServer
from lazyext import cli
from lazyext._pack import archive as _archive
from lazyext._pack import pack as _pack
from lazyext._pack import unpack as _unpack
from lazyext._settings import load as _load
from lazyext._settings.config import Config
from lazyext._store import entries as _cache
from lazyext._store.verify import verify
from lazyext._use import warm

from support import Wheelhouse, gc_collect, python_env, run_python

EXTENSIONS = {"tinyyaml": "TinyYaml>=6", "alpha": "alpha", "pthpkg": "pthpkg"}


def configure(wheelhouse: Wheelhouse, cache: Path, index: str | None = None) -> Config:
    options: dict[str, object] = {"cache_dir": str(cache)}
    if index is None:
        options.update(find_links=[str(wheelhouse.path)], no_index=True)
    else:
        options.update(index_url=index)
    return _load.load(EXTENSIONS, options)


@pytest.fixture
def index(wheelhouse: Wheelhouse) -> Iterator[IndexServer]:
    with IndexServer(wheelhouse.path) as server:
        yield server


@pytest.fixture
def built(tmp_path: Path, wheelhouse: Wheelhouse, index: IndexServer) -> Config:
    config = configure(wheelhouse, tmp_path / "built", index.url)
    results = warm(config=config)
    assert all(isinstance(result, Path) for result in results.values()), results
    return config


@pytest.fixture
def archive(built: Config, tmp_path: Path) -> Path:
    path = tmp_path / "env.tar"
    _pack.pack(built, str(path))
    return path


def generations(cache: Path) -> list[Path]:
    return sorted(cache.glob("entries/*/*/g*"))


def nothing_published(cache: Path) -> bool:
    staging = cache / "staging"
    leftovers = list(staging.iterdir()) if staging.exists() else []
    return generations(cache) == [] and leftovers == []


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tar.zst"])
def test_a_packed_environment_unpacks_verified_and_imports_without_an_index(
    built: Config, tmp_path: Path, wheelhouse: Wheelhouse, index: IndexServer, suffix: str
) -> None:
    if suffix == ".tar.zst":
        pytest.importorskip("zstandard")
    path = tmp_path / f"env{suffix}"
    report = _pack.pack(built, str(path))
    assert len(report.entries) == 4  # TinyYaml, its tinydep, alpha, pthpkg: once each
    assert report.bytes_out == path.stat().st_size
    target = configure(wheelhouse, tmp_path / "target", index.url)
    unpacked = _unpack.unpack(target, str(path))
    assert len(unpacked.published) == 4
    assert unpacked.skipped == []
    for entry in _pack.selection(target):  # the environment came along: nothing to resolve
        assert verify(entry) == []
    # The same index, online then unreachable: zero requests, every import served.
    code = (
        "import lazyext\n"
        f"lazyext.activate({EXTENSIONS!r}, cache_dir={str(tmp_path / 'target')!r}, "
        f"index_url={index.url!r})\n"
        "import tinyyaml, alpha, pthpkg\nprint(tinyyaml.load(''), alpha.NAME, pthpkg.WHERE)\n"
    )
    requests = index.count()
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["42", "alpha", "pth"]
    assert index.count() == requests
    index.stop()
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["42", "alpha", "pth"]


def test_unpacking_twice_adds_nothing(
    archive: Path, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    target = configure(wheelhouse, tmp_path / "target")
    first = _unpack.unpack(target, str(archive))
    before = generations(tmp_path / "target")
    second = _unpack.unpack(target, str(archive))
    assert second.published == []
    assert sorted(second.skipped) == sorted(first.published)
    assert generations(tmp_path / "target") == before


def test_packing_a_cold_environment_says_what_to_run(
    tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    config = configure(wheelhouse, tmp_path / "cold")
    with pytest.raises(_archive.PackError, match="lazyext warm") as caught:
        _pack.pack(config, str(tmp_path / "x.tar.gz"))
    assert "tinyyaml" in str(caught.value)
    assert not (tmp_path / "x.tar.gz").exists()


def test_an_unknown_archive_name_is_refused(built: Config, tmp_path: Path) -> None:
    with pytest.raises(_archive.PackError, match=r"\.tar\.zst, \*\.tar\.gz"):
        _pack.pack(built, str(tmp_path / "x.zip"))


# -- refusals: nothing written ----------------------------------------------------------


def members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path) as archive:
        return [
            (member, archive.extractfile(member).read() if member.isfile() else b"")  # type: ignore[union-attr]
            for member in archive.getmembers()
        ]


def rewrite(path: Path, items: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for member, data in items:
            member.size = len(data) if member.isfile() else 0
            archive.addfile(member, io.BytesIO(data) if member.isfile() else None)


Mutation = Callable[[list[tuple[tarfile.TarInfo, bytes]]], None]


def _add(kind: bytes, name: str, link: str = "") -> Mutation:
    def mutate(items: list[tuple[tarfile.TarInfo, bytes]]) -> None:
        base = next(m.name for m, _ in items if m.name.endswith("/entry.json")).rsplit("/", 1)[0]
        member = tarfile.TarInfo(name.replace("BASE", base))
        member.type = kind
        member.linkname = link
        items.append((member, b"x" if kind == tarfile.REGTYPE else b""))

    return mutate


def _change_a_byte(items: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    for index, (member, data) in enumerate(items):
        if member.name.endswith("tinyyaml/__init__.py"):
            items[index] = (member, data.replace(b"42", b"43").replace(b"+ 1", b"+ 2"))
            return
    raise AssertionError("no tinyyaml/__init__.py in the archive")


def _foreign_platform(items: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    member, data = items[0]
    manifest = json.loads(data)
    manifest["platform"] = "cp399-cp399-win_arm64"
    items[0] = (member, json.dumps(manifest).encode())


def _drop_an_entry_file(items: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    del items[-1]


REFUSALS: dict[str, tuple[Mutation, str]] = {
    "dotdot": (_add(tarfile.REGTYPE, "BASE/target/../../../../../evil.py"), "'..' path"),
    "absolute": (_add(tarfile.REGTYPE, "/tmp/lazyext-evil.py"), "absolute"),
    "symlink": (_add(tarfile.SYMTYPE, "BASE/target/evil.py", "/etc/passwd"), "a link"),
    "hardlink": (_add(tarfile.LNKTYPE, "BASE/target/evil.py", "lazyext-pack.json"), "a link"),
    "device": (_add(tarfile.CHRTYPE, "BASE/target/evil"), "device"),
    "fifo": (_add(tarfile.FIFOTYPE, "BASE/target/evil"), "device"),
    "outside an entry": (_add(tarfile.REGTYPE, "entries/x.py"), "not part of an entry"),
    "unlisted file": (_add(tarfile.REGTYPE, "BASE/target/evil.pth"), "larger than it declares"),
    "changed content": (_change_a_byte, "does not match its wheels' RECORD"),
    "foreign platform": (_foreign_platform, "packed for cp399-cp399-win_arm64"),
    "missing file": (_drop_an_entry_file, "manifest says"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_bad_archive_is_refused_with_nothing_written(
    archive: Path, tmp_path: Path, wheelhouse: Wheelhouse, case: str
) -> None:
    mutate, message = REFUSALS[case]
    items = members(archive)
    mutate(items)
    rewrite(archive, items)
    target = configure(wheelhouse, tmp_path / "target")
    with pytest.raises(_archive.PackError, match=r"nothing was unpacked|packed for") as caught:
        _unpack.unpack(target, str(archive))
    assert message in str(caught.value)
    assert nothing_published(tmp_path / "target")
    assert not Path("/tmp/lazyext-evil.py").exists()


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.zst"])
@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_a_damaged_compressed_archive_is_refused(
    built: Config, tmp_path: Path, wheelhouse: Wheelhouse, suffix: str, damage: str
) -> None:
    if suffix == ".tar.zst":
        pytest.importorskip("zstandard")
    path = tmp_path / f"env{suffix}"
    _pack.pack(built, str(path))
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        del data[len(data) * 2 // 3 :]
    else:
        middle = len(data) // 2
        data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))
    target = configure(wheelhouse, tmp_path / "target")
    with pytest.raises(_archive.PackError, match="nothing was unpacked"):
        _unpack.unpack(target, str(path))
    assert nothing_published(tmp_path / "target")


def test_data_after_the_end_of_the_archive_is_refused_not_decompressed(
    archive: Path, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    # Padding after the end-of-archive blocks is at most a record (10 KiB); gigabytes of
    # compressed zeros there would keep unpack decompressing long after the archive.
    with open(archive, "ab") as handle:
        handle.write(bytes(2 << 20))
    target = configure(wheelhouse, tmp_path / "target")
    with pytest.raises(_archive.PackError, match="bytes after the end of the archive"):
        _unpack.unpack(target, str(archive))
    assert nothing_published(tmp_path / "target")


def test_not_an_archive_is_refused(tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    path = tmp_path / "env.tar.gz"
    path.write_bytes(b"hello")
    with pytest.raises(_archive.PackError):
        _unpack.unpack(configure(wheelhouse, tmp_path / "target"), str(path))
    assert nothing_published(tmp_path / "target")


# -- processes --------------------------------------------------------------------------


def _unpack_code(cache: Path, archive: Path, wheelhouse: Wheelhouse, before: str = "") -> str:
    return textwrap.dedent(
        f"""
        import lazyext
        from lazyext._store import entries as _cache
        from lazyext._settings import load as _load
        from lazyext._pack import archive as _archive
        from lazyext._pack import pack as _pack
        from lazyext._pack import unpack as _unpack
        {before}
        config = _load.load({EXTENSIONS!r}, {{"cache_dir": {str(cache)!r},
            "find_links": [{str(wheelhouse.path)!r}], "no_index": True}})
        report = _unpack.unpack(config, {str(archive)!r})
        print(len(report.published), len(report.skipped))
        """
    )


def test_two_processes_unpacking_one_archive_publish_one_copy(
    archive: Path, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    cache = tmp_path / "target"
    code = _unpack_code(cache, archive, wheelhouse)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=python_env()
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=120)[0].split() for child in children]
    assert all(child.returncode == 0 for child in children)
    published = sum(int(output[0]) for output in outputs)
    assert published == 4
    assert sum(int(output[1]) for output in outputs) == 4
    assert len(generations(cache)) == 4


def test_a_process_killed_during_unpack_leaves_nothing_that_is_used(
    archive: Path, tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    cache = tmp_path / "target"
    # Killed right before publishing its second entry: the first is complete.
    before = textwrap.dedent(
        """
        import os, signal
        import lazyext._pack.unpack as _unpack_module
        _publish, _count = _unpack_module.publish, []
        def publish(*args):
            _count.append(1)
            if len(_count) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return _publish(*args)
        _unpack_module.publish = publish
        """
    )
    result = run_python(
        _unpack_code(cache, archive, wheelhouse, before.replace("\n", "\n        "))
    )
    assert result.returncode == -signal.SIGKILL
    published = generations(cache)
    assert len(published) == 1
    entry = _cache.read_entry(str(published[0]))
    assert entry is not None
    assert verify(entry) == []
    assert list((cache / "staging").iterdir())  # the rest, never read
    # gc removes the dead process's staging; unpacking again completes the set.
    gc_collect(str(cache))
    assert list((cache / "staging").iterdir()) == []
    report = _unpack.unpack(configure(wheelhouse, cache), str(archive))
    assert (len(report.published), len(report.skipped)) == (3, 1)


# -- the CLI ----------------------------------------------------------------------------


def test_pack_and_unpack_commands(
    built: Config,
    tmp_path: Path,
    index: IndexServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LAZYEXT_CACHE_DIR")  # the files name their caches
    source = tmp_path / "built.toml"
    source.write_text(
        f'index-url = "{index.url}"\n'
        + f'cache-dir = "{tmp_path / "built"}"\n'
        + "".join(
            f'[[extensions]]\nname = "{name}"\npackage = "{requirement}"\n'
            for name, requirement in EXTENSIONS.items()
        ),
        encoding="utf-8",
    )
    output = tmp_path / "env.tar.gz"
    assert cli.main(["--config", str(source), "pack", "-o", str(output), "--json"]) == 0
    packed = json.loads(capsys.readouterr().out)
    assert len(packed["entries"]) == 4
    other = tmp_path / "other.toml"
    other.write_text(
        source.read_text(encoding="utf-8").replace(
            str(tmp_path / "built"), str(tmp_path / "unpacked")
        ),
        encoding="utf-8",
    )
    assert cli.main(["--config", str(other), "unpack", str(output)]) == 0
    assert "4 added, 0 already cached" in capsys.readouterr().out
    assert cli.main(["--config", str(other), "pack", "--platform", "cp399-none-any"]) == 1
    assert "not in the cache for cp399-none-any" in capsys.readouterr().err
    os.remove(output)
    output.write_bytes(b"\x1f\x8b broken")
    assert cli.main(["--config", str(other), "unpack", str(output)]) == 1
    assert "damaged or truncated" in capsys.readouterr().err


def test_import_lazyext_imports_no_fleet_module() -> None:
    code = (
        "import sys, lazyext\nlazyext.activate({'tinyyaml': 'TinyYaml>=6'})\n"
        "print(sorted(m for m in sys.modules if m.startswith(('lazyext._pack', "
        "'lazyext.integrations', 'distributed', 'ray', 'zstandard', "
        "'tarfile'))))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
