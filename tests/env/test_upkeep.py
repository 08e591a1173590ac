"""Old installs are collected opportunistically (issue 23 item 3): by a process that has
just installed, when it exits, at most once per ``gc-every``; never by a process that
only imported from the cache, and never what a live process uses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lazyext import cli
from lazyext._env import upkeep

from support import Wheelhouse, entry_of, python_env, run_python

IMPORT = "import lazyext\nlazyext.activate()\nimport {name}\nprint('IMPORTED', {name}.NAME)\n"


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Wheelhouse) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "lazyext.toml").write_text(
        wheelhouse.toml()
        + '[maintenance]\ngc-grace = "0"\n'  # invalidated installs go at the next gc
        + '[[extensions]]\nname = "alpha"\npackage = "alpha"\n',
        encoding="utf-8",
    )
    return root


def _import(project: Path, name: str = "alpha") -> None:
    done = run_python(IMPORT.format(name=name), cwd=project)
    assert done.returncode == 0, done.stderr
    assert f"IMPORTED {name}" in done.stdout


def _age_stamp(cache_dir: Path) -> None:
    """As if the last collection were two days old (gc-every: 1 day)."""
    then = time.time() - 2 * 86400
    os.utime(cache_dir / upkeep.STAMP, (then, then))


def _invalidate(cache_dir: Path, project: Path) -> Path:
    old = entry_of(cache_dir, "alpha")
    assert cli.main(["invalidate", "alpha", "--config", str(project / "lazyext.toml")]) == 0
    return old


def test_a_process_that_installed_collects_when_it_exits(project: Path, cache_dir: Path) -> None:
    _import(project)  # installs: the first collection (nothing to remove yet)
    stamp = cache_dir / upkeep.STAMP
    assert stamp.is_file()
    _age_stamp(cache_dir)
    old = _invalidate(cache_dir, project)
    _import(project)  # installs alpha again, and collects the invalidated one at exit
    assert not old.exists()
    assert entry_of(cache_dir, "alpha") != old
    assert time.time() - stamp.stat().st_mtime < 86400  # renewed


def test_at_most_once_per_gc_every(project: Path, cache_dir: Path) -> None:
    _import(project)
    old = _invalidate(cache_dir, project)
    _import(project)  # installed again, but the last collection is too recent
    assert old.exists()


def test_never_from_a_process_that_only_imported(project: Path, cache_dir: Path) -> None:
    _import(project)
    _age_stamp(cache_dir)
    before = (cache_dir / upkeep.STAMP).stat().st_mtime
    leftover = cache_dir / "staging" / "k.otherhost.1.abcd"  # garbage gc would take
    leftover.mkdir(parents=True)
    os.utime(leftover, (0, 0))
    _import(project)  # everything cached: the warm path
    assert leftover.exists()
    assert (cache_dir / upkeep.STAMP).stat().st_mtime == before


def test_off_with_gc_every_0(project: Path, cache_dir: Path) -> None:
    config = project / "lazyext.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "[maintenance]\n", '[maintenance]\ngc-every = "0"\n'
        ),
        encoding="utf-8",
    )
    _import(project)
    assert not (cache_dir / upkeep.STAMP).exists()


def test_never_what_a_live_process_uses(project: Path, cache_dir: Path) -> None:
    _import(project)
    holder = subprocess.Popen(
        [sys.executable, "-c", IMPORT.format(name="alpha") + "input()\n"],
        cwd=project,
        env=python_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().startswith("IMPORTED")  # it holds its install
        _age_stamp(cache_dir)
        old = _invalidate(cache_dir, project)
        _import(project)  # reinstalls, collects at exit: the held one is kept
        assert old.exists()
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0


def test_a_failing_collection_never_breaks_the_exit(tmp_path: Path, wheelhouse: Wheelhouse) -> None:
    code = textwrap.dedent(
        f"""
        import lazyext
        from lazyext._env import upkeep
        lazyext.activate({{"alpha": "alpha"}}, find_links=[{str(wheelhouse.path)!r}],
                         no_index=True)
        import alpha
        def broken(*args, **kwargs):
            raise OSError("the disk went away")
        upkeep.collect = broken
        print("done")
        """
    )
    done = run_python(code, cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "done\n", "")
