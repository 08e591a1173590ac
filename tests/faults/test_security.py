"""Hardening: a private cache directory, no planted symlinks followed, wheels only
unless allowed, hash pinning, and no executable .pth line unless allowed."""

from __future__ import annotations

import hashlib
import importlib
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

import lazyext
from faults.kit import CountingUv, generations, locked_key, staging
from lazyext._store import layers as _layers

from support import Wheelhouse, entry_of, publications


def _import(name: str) -> Any:
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def _config(house: Wheelhouse, extensions: dict[str, str], **settings: Any) -> Path:
    lines = [f'find-links = ["{house.path}"]', "no-index = true"]
    for key, value in settings.items():
        lines.append(f"{key.replace('_', '-')} = {value}")
    for name, body in extensions.items():
        lines += ["[[extensions]]", f'name = "{name}"', body]
    path = Path.cwd() / "lazyext.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- the cache directory -------------------------------------------------------------


def test_the_cache_and_everything_lazyext_creates_in_it_is_private(
    options: dict[str, Any], cache_dir: Path
) -> None:
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options)
    assert _import("tinyyaml").load("") == 42
    assert stat.S_IMODE(os.stat(cache_dir).st_mode) == 0o700
    for name in ("entries", "staging", "locks", "envs"):
        assert stat.S_IMODE(os.stat(cache_dir / name).st_mode) == 0o700, name
    made = [*generations(cache_dir), *cache_dir.glob("envs/*/*")]
    assert len(made) == 3  # TinyYaml's entry, tinydep's, the environment
    for made_dir in made:
        for path in (made_dir, made_dir.parent, made_dir.parent.parent):
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o700, path
    for lock in cache_dir.glob("envs/*/*/*"):
        assert stat.S_IMODE(os.stat(lock).st_mode) == 0o600, lock


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o775, 0o757, 0o722])
def test_a_cache_writable_by_others_is_refused(
    mode: int, options: dict[str, Any], cache_dir: Path, shim: CountingUv
) -> None:
    cache_dir.mkdir()
    os.chmod(cache_dir, mode)
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options)
    with pytest.raises(lazyext.UnsafeCacheError) as caught:
        _import("tinyyaml")
    assert caught.value.path == str(cache_dir)
    assert "writable by group or others" in str(caught.value)
    assert f"chmod 700 {cache_dir}" in str(caught.value)
    with pytest.raises(lazyext.UnsafeCacheError):
        lazyext.ensure("alpha", **options)
    assert shim.runs() == []
    assert sorted(p.name for p in cache_dir.iterdir()) in ([], ["compiled.marshal"])


def test_a_cache_owned_by_another_user_is_refused(
    options: dict[str, Any], cache_dir: Path, shim: CountingUv
) -> None:
    if os.geteuid() == 0:
        cache_dir.mkdir(mode=0o700)
        os.chown(cache_dir, 4242, 4242)
        foreign = cache_dir
    else:
        foreign = Path("/")  # owned by root
        options = {**options, "cache_dir": foreign}
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options)
    with pytest.raises(lazyext.UnsafeCacheError, match="not by you") as caught:
        _import("tinyyaml")
    assert caught.value.path == str(foreign)
    assert shim.runs() == []


# -- symlinks planted inside the cache ------------------------------------------------


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A directory outside the cache (where an attacker would point a link)."""
    path = tmp_path / "elsewhere"
    path.mkdir(mode=0o700)
    return path


@pytest.mark.parametrize("name", ["staging", "locks", "entries"])
def test_a_symlinked_cache_directory_is_never_followed(
    name: str, options: dict[str, Any], cache_dir: Path, elsewhere: Path
) -> None:
    cache_dir.mkdir(mode=0o700)
    (cache_dir / name).symlink_to(elsewhere, target_is_directory=True)
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options)
    with pytest.raises(lazyext.UnsafeCacheError, match="it is a symlink") as caught:
        _import("tinyyaml")
    assert caught.value.path == str(cache_dir / name)
    assert list(elsewhere.iterdir()) == []  # nothing staged, locked or published there


def test_a_symlinked_key_directory_is_neither_used_nor_written(
    options: dict[str, Any], cache_dir: Path, elsewhere: Path, shim: CountingUv
) -> None:
    config = lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options)
    assert _import("tinyyaml").load("") == 42
    lazyext.deactivate()
    generation = entry_of(cache_dir, "TinyYaml")
    key_dir = generation.parent.parent
    # Someone swaps the key directory for a link to a copy they control.
    (elsewhere / "copy").mkdir()
    key_dir.rename(elsewhere / "copy" / key_dir.name)
    key_dir.symlink_to(elsewhere / "copy" / key_dir.name, target_is_directory=True)
    assert _layers.find_entry(str(cache_dir), key_dir.name, config.platform) is None
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options)
    with pytest.raises(lazyext.UnsafeCacheError, match="it is a symlink"):
        _import("tinyyaml")
    assert len(list((elsewhere / "copy" / key_dir.name).iterdir())) == 1  # nothing added


@pytest.mark.parametrize("locked", ["environment", "distribution"])
def test_a_symlink_planted_at_the_lock_file_is_refused(
    locked: str,
    options: dict[str, Any],
    cache_dir: Path,
    elsewhere: Path,
    shim: CountingUv,
    lock_backend: str,
) -> None:
    config = lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options)
    # The lock taken to resolve the environment, or to install TinyYaml's distribution.
    key = config.env_key if locked == "environment" else locked_key(config, "tinyyaml")
    victim = elsewhere / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    (cache_dir / "locks").mkdir(parents=True, mode=0o700, exist_ok=True)
    os.chmod(cache_dir, 0o700)
    lock = cache_dir / "locks" / f"{key}.lock"
    lock.symlink_to(victim)
    with pytest.raises(lazyext.UnsafeCacheError, match="lock file") as caught:
        _import("tinyyaml")
    assert caught.value.path == str(lock)
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert shim.runs() == []
    # Removing the planted link is all it takes.
    lock.unlink()
    assert _import("tinyyaml").load("") == 42


# -- wheels only -----------------------------------------------------------------------


def test_an_sdist_is_not_built_unless_allowed(
    house: Wheelhouse, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark = tmp_path / "build-ran"
    monkeypatch.setenv("LAZYEXT_TEST_SDIST_MARK", str(mark))
    _config(house, {"sdistonly": 'package = "sdistonly"'})
    lazyext.activate()
    with pytest.raises(lazyext.InstallError) as caught:
        _import("sdistonly")
    assert "allow-sdist = true" in str(caught.value)
    assert not caught.value.transient
    assert not mark.exists()  # the package's build code never ran
    assert generations(cache_dir) == []

    lazyext.deactivate()
    _config(house, {"sdistonly": 'package = "sdistonly"'}, allow_sdist="true")
    lazyext.activate()
    assert _import("sdistonly").WHERE == "built from the sdist"
    assert mark.read_text(encoding="utf-8") == "built\n"


# -- hashes ----------------------------------------------------------------------------


def _sha256(house: Wheelhouse, filename: str) -> str:
    return "sha256:" + hashlib.sha256((house.path / filename).read_bytes()).hexdigest()


def test_a_pinned_hash_that_matches_installs(
    house: Wheelhouse, cache_dir: Path, shim: CountingUv
) -> None:
    digest = _sha256(house, "alpha-1.0-py3-none-any.whl")
    _config(house, {"alpha": f'package = "alpha==1.0"\nhashes = ["{digest}"]'})
    lazyext.activate()
    assert _import("alpha").NAME == "alpha"
    (run,) = shim.runs()
    assert "--require-hashes" in run.split()
    assert len(generations(cache_dir)) == 1


def test_a_pinned_hash_that_does_not_match_is_a_security_error(
    house: Wheelhouse, cache_dir: Path, shim: CountingUv
) -> None:
    # The hash of another real wheel: a substituted file, not a typo.
    wrong = _sha256(house, "gamma-1.0-py3-none-any.whl")
    _config(house, {"alpha": f'package = "alpha==1.0"\nhashes = ["{wrong}"]'}, retries=3)
    lazyext.activate()
    with pytest.raises(lazyext.InstallError) as caught:
        _import("alpha")
    error = caught.value
    assert error.security
    assert not error.transient
    assert "match none of the configured hashes" in str(error)
    # Found against the lock, before anything was downloaded or installed.
    assert shim.runs() == []
    assert generations(cache_dir) == []
    assert staging(cache_dir) == []
    resolutions = len(shim.compiles())
    with pytest.raises(lazyext.InstallError):
        _import("alpha")
    assert shim.runs() == []
    assert len(shim.compiles()) == resolutions  # remembered: not resolved again


def test_hashes_of_an_extension_with_dependencies_install_through_the_lock(
    house: Wheelhouse, cache_dir: Path, shim: CountingUv
) -> None:
    # The lock has a hash for every distribution: the dependency is checked as well.
    digest = _sha256(house, "TinyYaml-6.1-py3-none-any.whl")
    _config(house, {"tinyyaml": f'package = "TinyYaml==6.1"\nhashes = ["{digest}"]'})
    lazyext.activate()
    assert _import("tinyyaml").load("") == 42
    (run,) = shim.runs()
    assert "--require-hashes" in run.split()
    assert publications(cache_dir) == {"tinyyaml": 1, "tinydep": 1}
