"""Issue 12 #3 and #4: leases that do not depend on the spawn view, and clock steps.

Only the clock is mocked (``time.time``/``time.time_ns`` shifted in this process).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lazyext
from faults.kit import generations, spawn
from lazyext._env.stored import Environment
from lazyext._report import status as _status
from lazyext._settings.config import Config
from lazyext._store import entries as _cache
from lazyext.tasks._maintenance import refresh_expired

from support import Wheelhouse, gc_collect

DAY = 86400.0

# -- #3: a lease without a view ------------------------------------------------------


def _lease_child(options: dict[str, Any], go: Path) -> Any:
    options = {
        key: str(value) if isinstance(value, Path) else value for key, value in options.items()
    }
    return spawn(
        f"""
        import os, sys, time, lazyext
        from lazyext._importer import view as _view
        lazyext.activate({{"tinyyaml": "TinyYaml>=6"}}, **{options!r})
        import tinyyaml
        print("view", _view.current(), flush=True)
        while not os.path.exists({str(go)!r}):
            time.sleep(0.01)
        import tinyyaml.sub
        print("sub", tinyyaml.sub.X, flush=True)
        """
    )


def test_gc_never_removes_an_install_leased_by_a_process_without_a_view(
    options: dict[str, Any], cache_dir: Path, tmp_path: Path
) -> None:
    cache_dir.mkdir(mode=0o700)
    # No view can be made (as with inodes exhausted): "views" is taken by a file.
    (cache_dir / "views").write_text("")
    go = tmp_path / "go"
    child = _lease_child(options, go)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            pytest.fail(f"the child failed: {child.communicate(timeout=60)}")
        assert line.strip() == "view None"
        (generation,) = [g for g in generations(cache_dir) if (g / "target" / "tinyyaml").is_dir()]
        assert lazyext.invalidate("TinyYaml>=6", **options) == 2  # TinyYaml and tinydep
        report = gc_collect(str(cache_dir), grace_seconds=0)
        assert str(generation) in report.skipped_in_use
        assert generation.is_dir()
        go.touch()
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert out.strip() == "sub 1"
        # Once the process is gone, so is its lease.
        report = gc_collect(str(cache_dir), grace_seconds=0)
        assert str(generation) in report.removed
    finally:  # a failed assertion leaves no child waiting for "go" forever
        go.touch()
        if child.poll() is None:
            child.kill()
            child.wait(60)


# -- #4: clock steps in both directions ---------------------------------------------


@pytest.fixture
def shift(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Set the wall clock ``offset`` seconds away from the real one."""
    real, real_ns = time.time, time.time_ns

    def set_offset(offset: float) -> None:
        monkeypatch.setattr(time, "time", lambda: real() + offset)
        monkeypatch.setattr(time, "time_ns", lambda: real_ns() + int(offset * 1e9))

    return set_offset


@pytest.fixture
def wheels(tmp_path: Path) -> Wheelhouse:
    built = Wheelhouse(tmp_path / "clock-wheels")
    built.build("clockpkg", "1.0", {"clockpkg/__init__.py": "VERSION = '1.0'\n"})
    return built


def _config(wheels: Wheelhouse, cache_dir: Path) -> Config:
    config = lazyext.activate({"clockpkg": "clockpkg"}, **wheels.options(cache_dir), ttl_hours=1.0)
    lazyext.deactivate()
    return config


def _install(wheels: Wheelhouse, cache_dir: Path) -> None:
    """Install clockpkg through the config (then deactivate: no lease of this process)."""
    lazyext.activate({"clockpkg": "clockpkg"}, **wheels.options(cache_dir), ttl_hours=1.0)
    lazyext.ensure("clockpkg")
    lazyext.deactivate()


def _newest(config: Config) -> _cache.Entry:
    """The entry that serves clockpkg in the config's current environment."""
    plan = config.plan_for("clockpkg")
    assert plan is not None
    entry = _status.main_entry(config, plan)
    assert entry is not None
    return entry


def _environment(config: Config) -> Environment:
    env = _status.stored_environment(config)
    assert env is not None
    return env


def test_an_install_made_with_the_clock_ahead_is_refreshed_once_it_is_back(
    wheels: Wheelhouse, cache_dir: Path, shift: Callable[[float], None]
) -> None:
    config = _config(wheels, cache_dir)
    shift(2 * DAY)
    _install(wheels, cache_dir)
    ahead = _newest(config)
    shift(0)
    assert _environment(config).expired()  # dated in the future: expired from now
    wheels.build("clockpkg", "1.1", {"clockpkg/__init__.py": "VERSION = '1.1'\n"})
    report = refresh_expired(config)
    assert list(report["refreshed"]) == ["clockpkg"]
    fresh = _newest(config)
    assert fresh.path != ahead.path
    assert fresh.version_of("clockpkg") == "1.1"
    assert not _environment(config).expired()


@pytest.mark.parametrize("force", [False, True])
def test_a_refresh_after_the_clock_stepped_back_publishes_the_newest_generation(
    wheels: Wheelhouse, cache_dir: Path, shift: Callable[[float], None], force: bool
) -> None:
    config = _config(wheels, cache_dir)
    _install(wheels, cache_dir)
    before = _newest(config)
    wheels.build("clockpkg", "1.1", {"clockpkg/__init__.py": "VERSION = '1.1'\n"})
    shift(-DAY)
    assert _environment(config).expired()  # in the future now
    report = refresh_expired(config, force=force)
    assert list(report["refreshed"]) == ["clockpkg"]
    after = _newest(config)
    assert after.path == report["refreshed"]["clockpkg"]
    assert after.path != before.path
    assert after.version_of("clockpkg") == "1.1"
    assert not _environment(config).expired()
    # And again: --force always resolves and stores a new generation of the environment
    # (compared by identity, whatever the clock says); the unchanged 1.1 keeps its entry.
    resolved = _environment(config)
    again = refresh_expired(config, names=["clockpkg"], force=True)
    assert _environment(config) != resolved
    assert again["refreshed"]["clockpkg"] == after.path


def test_gc_removes_a_generation_superseded_by_one_dated_in_the_future(
    wheels: Wheelhouse, cache_dir: Path, shift: Callable[[float], None]
) -> None:
    config = _config(wheels, cache_dir)
    shift(2 * DAY)
    _install(wheels, cache_dir)  # with the clock ahead; deactivated: no lease of ours
    old = _newest(config)
    shift(0)
    wheels.build("clockpkg", "1.1", {"clockpkg/__init__.py": "VERSION = '1.1'\n"})
    refresh_expired(config, force=True)
    new = _newest(config)
    assert new.path != old.path
    report = gc_collect(str(cache_dir), grace_seconds=3600)
    assert old.path in report.removed  # not kept until the clock catches up in two days
    assert os.path.isdir(new.path)
