"""The on-disk cache: root checks, generations, invalidation markers and gc (_cache, _gc)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import lazyext
from lazyext import _trust
from lazyext._env.provision import provision
from lazyext._settings import load as _load
from lazyext._settings.config import Config
from lazyext._settings.names import hostname
from lazyext._store import entries as _cache
from lazyext._store import layers as _layers
from lazyext._store.entries import Entry

from support import Wheelhouse, gc_collect, republish


def config_for(wheelhouse: Wheelhouse, cache_dir: Path, requirement: str = "TinyYaml>=6") -> Config:
    return _load.load(
        {"tinyyaml": requirement},
        {"cache_dir": str(cache_dir), "find_links": [str(wheelhouse.path)], "no_index": True},
    )


def provision_of(config: Config, *, refresh: bool = False) -> Entry:
    return provision(config.plans[0], config.settings, config.platform, refresh=refresh)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# -- the root ---------------------------------------------------------------------------


def test_root_is_created_private(tmp_path: Path) -> None:
    root = tmp_path / "new" / "cache"
    assert _trust.ensure_root(str(root)) == os.path.realpath(root)
    assert root.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722])
def test_a_root_writable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    os.chmod(root, mode)
    with pytest.raises(lazyext.UnsafeCacheError, match="writable by group or others") as caught:
        _trust.ensure_root(str(root))
    assert caught.value.path == str(root)
    assert isinstance(caught.value, PermissionError)


def test_a_symlinked_parent_is_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert _trust.ensure_root(str(link / "cache")) == str(real / "cache")


# -- generations ---------------------------------------------------------------------------


def test_find_entry_ignores_foreign_and_unfinished_things(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    config = config_for(wheelhouse, cache_dir)
    entry = provision_of(config)
    platform_dir = Path(entry.path).parent
    # Not generations: no "g" prefix.
    (platform_dir / "tmp-partial").mkdir()
    (platform_dir / "README").write_text("x", encoding="utf-8")
    root = str(cache_dir.resolve())
    assert _layers.find_entry(root, entry.key, config.platform) == entry
    # A generation swapped for a symlink is foreign and never used.
    newer = platform_dir / "g99999999999999999999.1"
    newer.symlink_to(entry.path)
    assert _cache.read_entry(str(newer)) is None
    assert _layers.find_entry(root, entry.key, config.platform) == entry
    assert _layers.find_entry(root, "0" * 32, config.platform) is None


def test_invalidate_key_marks_every_platform(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    config = config_for(wheelhouse, cache_dir)
    entry = provision_of(config)
    root = str(cache_dir.resolve())
    key = entry.key
    other = Path(root, "entries", key, "cp399-cp399-other")
    other.mkdir()
    (other / "g00000000000000000001.1").mkdir()
    assert _cache.invalidate_key(root, key) == 2
    assert _cache.read_entry(entry.path) is None
    assert _layers.find_entry(root, key, config.platform) is None
    assert _cache.invalidate_key(root, key) == 0
    assert _cache.invalidate_key(root, "f" * 32) == 0
    assert os.path.isdir(entry.target)


# -- gc ------------------------------------------------------------------------------------


def staging_dir(root: Path, key: str, *, host: str | None = None, pid: int) -> Path:
    host = host or hostname()
    path = root / "staging" / f"{key}.{host}.{pid}.abcd1234"
    (path / "target").mkdir(parents=True)
    (path / "target" / "half.py").write_text("x = 1\n", encoding="utf-8")
    return path


def test_gc_removes_staging_of_dead_processes_only(cache_dir: Path) -> None:
    root = Path(_trust.ensure_root(str(cache_dir)))
    key = "a" * 32
    dead = staging_dir(root, key, pid=dead_pid())
    live = staging_dir(root, key, pid=os.getpid())
    other_host = staging_dir(root, key, host="elsewhere", pid=1)
    report = gc_collect(str(root), grace_seconds=0)
    assert str(dead) in report.removed
    assert not dead.exists()
    assert live.exists()
    assert other_host.exists()
    assert report.freed_bytes > 0
    # Long-abandoned staging of another host (or a reused pid) goes after a while.
    report = gc_collect(str(root), grace_seconds=0, now=time.time() + 2 * 3600)
    assert not other_host.exists()
    assert not live.exists()


def test_gc_removes_invalidated_after_the_grace(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    config = config_for(wheelhouse, cache_dir)
    entry = provision_of(config)
    root = str(cache_dir.resolve())
    _cache.invalidate_key(root, entry.key)
    assert gc_collect(root, grace_seconds=3600).removed == []
    assert os.path.isdir(entry.path)
    report = gc_collect(root, grace_seconds=0)
    assert report.removed == [entry.path]
    assert not os.path.exists(entry.path)


def test_gc_removes_superseded_generations_after_the_grace(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    config = config_for(wheelhouse, cache_dir)
    oldest = provision_of(config)
    root = str(cache_dir.resolve())
    # A distribution's entry is installed once; newer generations of it come from a
    # reinstall racing an older reader (or a repair): publish them directly.
    middle = republish(root, oldest)
    newest = republish(root, oldest)
    assert gc_collect(root, grace_seconds=3600).removed == []
    # A mocked clock: two hours later, the superseded ones go.
    report = gc_collect(root, grace_seconds=3600, now=time.time() + 7200)
    assert sorted(report.removed) == sorted([oldest.path, middle])
    found = _layers.find_entry(root, oldest.key, config.platform)
    assert found is not None
    assert found.path == newest


def test_gc_removes_damaged_generations(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    config = config_for(wheelhouse, cache_dir)
    entry = provision_of(config)
    Path(entry.path, "entry.marshal").write_bytes(b"")
    report = gc_collect(str(cache_dir.resolve()), grace_seconds=3600)
    assert report.removed == [entry.path]


def test_gc_leaves_a_damaged_generation_a_live_process_uses(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    # Damaged metadata (or a read that failed for a moment) says nothing about the
    # modules this process loaded from the install and the submodules it may still load.
    options = wheelhouse.options(cache_dir)
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options)
    target = lazyext.ensure("tinyyaml", **options)
    generation = str(target.parent)
    Path(generation, "entry.marshal").write_bytes(b"")
    report = gc_collect(str(cache_dir.resolve()), grace_seconds=3600)
    assert report.removed == []
    assert report.skipped_in_use == [generation]
    lazyext.deactivate()  # the lease ends with the view
    report = gc_collect(str(cache_dir.resolve()), grace_seconds=3600)
    assert report.removed == [generation]


def test_gc_keeps_a_valid_current_generation(wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    entry = provision_of(config_for(wheelhouse, cache_dir))
    report = gc_collect(str(cache_dir.resolve()), grace_seconds=0, now=time.time() + 10**7)
    assert report.removed == []
    assert os.path.isdir(entry.target)


def test_gc_skips_a_key_another_process_is_installing(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    config = config_for(wheelhouse, cache_dir)
    entry = provision_of(config)
    root = str(cache_dir.resolve())
    key = entry.key
    _cache.invalidate_key(root, key)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys
                from lazyext._store.locks import key_lock
                with key_lock({root!r}, {key!r}, 30):
                    print("held", flush=True)
                    sys.stdin.readline()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        report = gc_collect(root, grace_seconds=0)
        assert report.skipped_locked == [key]
        assert os.path.isdir(entry.path)
    finally:
        holder.communicate("\n", timeout=30)
    assert gc_collect(root, grace_seconds=0).removed == [entry.path]


def test_gc_removes_views_of_dead_processes(cache_dir: Path) -> None:
    root = Path(_trust.ensure_root(str(cache_dir)))
    dead = root / "views" / f"{hostname()}.{dead_pid()}.abcd"
    live = root / "views" / f"{hostname()}.{os.getpid()}.abcd"
    dead.mkdir(parents=True)
    live.mkdir()
    report = gc_collect(str(root), grace_seconds=0)
    assert str(dead) in report.removed
    assert live.is_dir()


def test_gc_of_an_empty_or_missing_cache(cache_dir: Path) -> None:
    report = gc_collect(str(cache_dir / "never-created"))
    assert report.as_dict()["removed"] == []
    assert report.freed_bytes == 0
