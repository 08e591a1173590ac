"""Issue 12 #12: files of a wheel's ``.data/`` schemes never land where ``.pth`` files
are processed.

``uv pip install --target`` puts a wheel's ``<name>.data/data/`` files at the top of
the target, next to its modules: a ``.pth`` there ran on every activation, although
a standard install puts it in the environment's prefix, where nothing reads it.
lazyext keeps the data, scripts and headers schemes in the generation's ``data/``
directory; the RECORD names them ``../data/...``, so ``importlib.metadata`` and
``verify`` still find them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
from pathlib import Path

import pytest

import lazyext
from faults.kit import generations, run
from lazyext import _cache, _verify, cli
from lazyext._config import Config

from support import Wheelhouse

MARKER_ENV = "LAZYEXT_TEST_DATA_PTH_MARKER"


def _build(house: Wheelhouse) -> None:
    house.build("datadep", "1.0", {"datadep/__init__.py": "NAME = 'datadep'\n"})
    house.build(
        "datapth",
        "1.0",
        {
            "datapth/__init__.py": "import datadep\nNAME = 'datapth'\n",
            # Would run on activation if it landed where .pth files are processed.
            "datapth-1.0.data/data/evil.pth": (
                "import os; open(os.environ['" + MARKER_ENV + "'], 'w').close()\n"
            ),
            "datapth-1.0.data/data/share/datapth/hello.txt": "hello from share\n",
            "datapth-1.0.data/scripts/dtool": "#!python\nprint('dtool')\n",
            "datapth-1.0.data/headers/datapth.h": "int datapth;\n",
        },
        requires=("datadep",),
    )


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "evil-pth-ran"
    monkeypatch.setenv(MARKER_ENV, str(path))
    return path


def _entry(cache_dir: Path, top: str) -> _cache.Entry:
    for generation in generations(cache_dir):
        entry = _cache.read_entry(str(generation))
        if entry is not None and top in entry.top_level:
            return entry
    raise AssertionError(f"no published entry provides {top}")


def test_a_data_scheme_pth_never_lands_in_the_target_nor_runs(
    tmp_path: Path, cache_dir: Path, marker: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    house = Wheelhouse(tmp_path / "data-wheels")
    _build(house)
    Path("lazyext.toml").write_text(
        house.toml() + '[[extensions]]\nname = "datapth"\npackage = "datapth"\n',
        encoding="utf-8",
    )
    lazyext.activate()
    sys.modules.pop("datapth", None)
    assert importlib.import_module("datapth").NAME == "datapth"
    assert not marker.exists()

    entry = _entry(cache_dir, "datapth")
    assert entry.pth == ()
    target = Path(entry.target)
    assert not list(target.glob("*.pth"))
    # Nothing of the other schemes at the top of the target (a `bin` there was taken
    # for an importable namespace).
    assert not {"bin", "share", "include"} & {p.name for p in target.iterdir()}
    assert set(entry.top_level) == {"datapth"}
    data = Path(entry.path) / "data"
    assert (data / "evil.pth").is_file()
    assert (data / "share" / "datapth" / "hello.txt").is_file()
    assert os.access(data / "bin" / "dtool", os.X_OK)
    # The dependency, installed by the same uv run and split off, got no data files.
    dependency = _entry(cache_dir, "datadep")
    assert not (Path(dependency.path) / "data").exists()
    assert _verify.verify(dependency) == []

    # The RECORD names the moved files where they are: verify finds the entry clean and
    # importlib.metadata locates the package's share/ data.
    assert _verify.verify(entry) == []
    files = {str(f): f for f in importlib.metadata.files("datapth") or ()}
    hello = files["../data/share/datapth/hello.txt"]
    assert Path(str(hello.locate())).read_text(encoding="utf-8") == "hello from share\n"
    capsys.readouterr()
    code = cli.main(["verify"])
    shown = capsys.readouterr()
    assert code == 0, shown.out + shown.err

    # A fresh activated process neither: the .pth files of every entry are processed.
    child = run(
        "import lazyext\nlazyext.activate()\nimport datapth\nprint(datapth.NAME)\n",
        env={**os.environ},
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["datapth"]
    assert not marker.exists()


def test_a_planted_data_file_is_listed_by_verify(
    tmp_path: Path, cache_dir: Path, marker: Path
) -> None:
    house = Wheelhouse(tmp_path / "data-wheels")
    _build(house)
    lazyext.ensure("datapth", **house.options(cache_dir))
    entry = _entry(cache_dir, "datapth")
    data = Path(entry.path) / "data"
    (data / "share" / "datapth" / "hello.txt").write_text("changed\n", encoding="utf-8")
    (data / "planted.txt").write_text("x\n", encoding="utf-8")
    problems = _verify.verify(entry)
    assert any("../data/share/datapth/hello.txt: size" in p for p in problems), problems
    assert any("../data/planted.txt: listed in no RECORD" in p for p in problems), problems


def test_pack_and_unpack_carry_the_data_directory(tmp_path: Path, cache_dir: Path) -> None:
    from lazyext import _load, _pack
    from lazyext._api import warm

    house = Wheelhouse(tmp_path / "data-wheels")
    _build(house)

    def config(cache: Path) -> Config:
        options = {"cache_dir": str(cache), "find_links": [str(house.path)], "no_index": True}
        return _load.load({"datapth": "datapth"}, options)

    built = config(tmp_path / "built")
    assert all(isinstance(result, Path) for result in warm(config=built).values())
    archive = tmp_path / "env.tar"
    _pack.pack(built, str(archive))
    unpacked = config(tmp_path / "unpacked")
    assert len(_pack.unpack(unpacked, str(archive)).published) == 2
    entries = _pack.selection(unpacked)
    assert [_verify.verify(entry) for entry in entries] == [[], []]
    (main,) = [entry for entry in entries if "datapth" in entry.top_level]
    assert (Path(main.path) / "data" / "share" / "datapth" / "hello.txt").is_file()
    assert not list(Path(main.target).glob("*.pth"))


def test_a_dist_info_planted_through_a_data_scheme_is_refused(
    tmp_path: Path, cache_dir: Path, marker: Path
) -> None:
    # The planted directory would make `lib/` look like a site directory, so that its
    # evil.pth were moved into the target with the modules.
    house = Wheelhouse(tmp_path / "planted-wheels")
    house.build(
        "planted",
        "1.0",
        {
            "planted/__init__.py": "NAME = 'planted'\n",
            "planted-1.0.data/data/lib/planted-1.0.dist-info/METADATA": (
                "Metadata-Version: 2.1\nName: planted\nVersion: 1.0\n"
            ),
            "planted-1.0.data/data/lib/planted-1.0.dist-info/RECORD": "evil.pth,,\n",
            "planted-1.0.data/data/lib/evil.pth": (
                "import os; open(os.environ['" + MARKER_ENV + "'], 'w').close()\n"
            ),
        },
    )
    with pytest.raises(lazyext.InstallError, match=r"\.dist-info directory") as caught:
        lazyext.ensure("planted", **house.options(cache_dir))
    assert caught.value.security is True
    assert generations(cache_dir) == []
    assert not marker.exists()


def test_a_vendored_dist_info_inside_a_package_is_not_a_site_directory(
    tmp_path: Path, cache_dir: Path
) -> None:
    house = Wheelhouse(tmp_path / "vendoring-wheels")
    house.build(
        "vendoring",
        "1.0",
        {
            "vendoring/__init__.py": "NAME = 'vendoring'\n",
            "vendoring/inner-2.0.dist-info/METADATA": (
                "Metadata-Version: 2.1\nName: inner\nVersion: 2.0\n"
            ),
        },
    )
    lazyext.ensure("vendoring", **house.options(cache_dir))
    entry = _entry(cache_dir, "vendoring")
    assert (Path(entry.target) / "vendoring" / "inner-2.0.dist-info" / "METADATA").is_file()
    assert not (Path(entry.path) / "data").exists()
    assert _verify.verify(entry) == []
