"""The speculative install of a new environment's first import (lazyext._env.speculate):
kept only when it is exactly what the lock says, thrown away otherwise, never published."""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path

import pytest

import lazyext
import uv
from fake_uv import UvShim
from lazyext._store.verify import verify_target
from lazyext._uv import command
from lazyext.cli import main

from support import Wheelhouse, published


@pytest.fixture
def house(tmp_path: Path) -> Wheelhouse:
    house = Wheelhouse(tmp_path / "wheels")
    for version in ("1.0", "2.0"):
        house.build("spec-lib", version, {"spec_lib/__init__.py": f"VERSION = {version!r}\n"})
    house.build(
        "spec-a", "1.0", {"spec_a/__init__.py": "import spec_lib\n"}, requires=("spec-lib",)
    )
    house.build(
        "spec-b", "1.0", {"spec_b/__init__.py": "import spec_lib\n"}, requires=("spec-lib<2",)
    )
    return house


@pytest.fixture
def shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UvShim:
    shim = UvShim(tmp_path / "shim")
    monkeypatch.setattr(command, "uv_binary", lambda: str(shim))
    return shim


def _versions(cache_dir: Path, dist: str) -> list[str]:
    found = []
    for generation in published(cache_dir).get(dist, []):
        infos = list((generation / "target").glob("*.dist-info"))
        found += [info.name[: -len(".dist-info")].rpartition("-")[2] for info in infos]
    return found


def test_a_speculation_the_lock_agrees_with_is_published_without_a_second_install(
    house: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    lazyext.activate({"spec_a": "spec-a"}, **house.options(cache_dir))
    importlib.import_module("spec_a")
    assert sys.modules["spec_lib"].VERSION == "2.0"
    assert len(shim.speculations()) == 1
    assert shim.runs() == shim.speculations()  # no locked install: the speculation served
    for dist in ("spec-a", "spec-lib"):
        (generation,) = published(cache_dir)[dist]
        assert verify_target(str(generation / "target")) == []  # RECORD-checked, as always
    assert _versions(cache_dir, "spec-lib") == ["2.0"]
    assert list((cache_dir / "staging").iterdir()) == []


def test_a_speculation_whose_versions_differ_from_the_lock_is_thrown_away(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock says spec-lib 2.0; the speculation installs 1.0 (as if the index had
    changed between the two runs): it is never published, the lock's versions are."""
    shim = UvShim(
        tmp_path / "older",
        body=(
            'case "$*" in *" -- "*) set -- "$@" spec-lib==1.0 ;; esac\n'
            f'exec {uv.find_uv_bin()} "$@"'
        ),
    )
    monkeypatch.setattr(command, "uv_binary", lambda: str(shim))
    lazyext.activate({"spec_a": "spec-a"}, **house.options(cache_dir))
    importlib.import_module("spec_a")
    assert sys.modules["spec_lib"].VERSION == "2.0"
    assert len(shim.speculations()) == 1
    locked = [run for run in shim.runs() if run not in shim.speculations()]
    assert len(locked) == 1  # the lock's versions, hash-checked
    assert "--require-hashes" in locked[0].split()
    assert _versions(cache_dir, "spec-lib") == ["2.0"]  # 1.0 never reached the cache
    assert list((cache_dir / "staging").iterdir()) == []


def test_an_environment_of_several_extensions_is_not_speculated(
    house: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    # Alone, spec-a would take spec-lib 2.0; with spec-b the lock says 1.0.
    lazyext.activate({"spec_a": "spec-a", "spec_b": "spec-b"}, **house.options(cache_dir))
    importlib.import_module("spec_a")
    assert sys.modules["spec_lib"].VERSION == "1.0"
    assert shim.speculations() == []
    assert len(shim.runs()) == 1


@pytest.mark.parametrize("kind", ["hashes", "lock"])
def test_no_speculation_where_the_lock_is_pinned(
    house: Wheelhouse, cache_dir: Path, shim: UvShim, tmp_path: Path, kind: str
) -> None:

    wheel = next(house.path.glob("spec_lib-1.0-*.whl"))
    digest = "sha256:" + hashlib.sha256(wheel.read_bytes()).hexdigest()
    config = tmp_path / "lazyext.toml"
    text = house.toml() + '[[extensions]]\nname = "spec_lib"\npackage = "spec-lib==1.0"\n'
    if kind == "hashes":
        text += f'hashes = ["{digest}"]\n'
    else:  # a lock file, written by `lazyext lock` first
        config.write_text(text, encoding="utf-8")
        lock = tmp_path / "pylock.toml"
        assert main(["--config", str(config), "lock", "-o", str(lock)]) == 0
        text = f'lock = "{lock}"\n' + text
    config.write_text(text, encoding="utf-8")
    lazyext.activate(config)
    importlib.import_module("spec_lib")
    assert shim.speculations() == []
    assert sys.modules["spec_lib"].VERSION == "1.0"


def test_a_speculation_from_an_index_asks_only_uvs_cache(
    cache_dir: Path, shim: UvShim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an index, the speculation is one run with --offline: no request is made twice."""
    from lazyext._env import speculate
    from lazyext._settings.load import load

    config = load(
        {"spec_a": "spec-a"}, {"cache_dir": str(cache_dir), "index_url": "http://127.0.0.1:9/"}
    )
    plan = config.plans[0]
    speculation = speculate.start(plan, config, str(cache_dir.resolve()))
    assert speculation is not None
    assert speculation.take([], None) is None  # uv's cache has nothing: not used
    speculation.discard()
    (run,) = shim.speculations()
    assert "--offline" in run.split()
