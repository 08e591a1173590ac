"""The maintenance tasks: refresh, gc (unused, size budget, leases), warm and health."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from tasktools import FakeClock

import lazyext
from lazyext import _state
from lazyext._settings.config import Config
from lazyext._settings.load import load
from lazyext._settings.maintenance import parse_duration, parse_size
from lazyext._store import entries as _cache
from lazyext._use import warm
from lazyext.tasks import TaskManager
from lazyext.tasks._health import check_health
from lazyext.tasks._maintenance import (
    BUILTINS,
    collect_garbage,
    refresh_expired,
    settings_of,
)
from lazyext.tasks._store import SqliteTasks

from support import Wheelhouse, build_tinyyaml, gc_collect, python_env, run_python

DAY = 86400.0


def write_config(wheelhouse: Wheelhouse, extensions: dict[str, str], extra: str = "") -> Path:
    lines = [wheelhouse.toml(), "ttl-hours = 1", extra]
    for name, package in extensions.items():
        lines.append(f'[[extensions]]\nname = "{name}"\npackage = "{package}"\n')
    path = Path("lazyext.toml").resolve()
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def entry_of(config: Config, name: str) -> _cache.Entry:
    """The published entry of extension ``name``'s own distribution."""
    from lazyext._report.status import main_entry

    plan = config.plan_for(name)
    assert plan is not None
    entry = main_entry(config, plan)
    assert entry is not None
    return entry


# -- [maintenance] -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), ("90", 90.0), ("30s", 30.0), ("5m", 300.0), ("2h", 7200.0), ("1.5d", 129600.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "size"), [(0, 0), ("512", 512), ("2K", 2048), ("500M", 500 << 20), ("1.5GiB", 3 << 29)]
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


def test_maintenance_table_is_validated_all_at_once(wheelhouse: Wheelhouse) -> None:
    extra = (
        "[maintenance]\nenabled = 'yes'\ngc-every = '3 fortnights'\nmax-size = '-1G'\n"
        "unused-days = -2\nhealth-timeout = 0\nwhatever = 1\n"
    )
    config = load(write_config(wheelhouse, {}, extra), {})
    with pytest.raises(lazyext.ConfigError) as caught:
        settings_of(config)
    assert len(caught.value.problems) == 6
    for fragment in (
        "enabled",
        "gc-every",
        "max-size",
        "unused-days",
        "health-timeout",
        "whatever",
    ):
        assert fragment in str(caught.value)
    with pytest.raises(lazyext.ConfigError):
        TaskManager(config, maintenance=True)


def test_builtin_tasks_follow_the_config_and_keep_their_pause(wheelhouse: Wheelhouse) -> None:
    source = write_config(wheelhouse, {}, "[maintenance]\ngc-every = '2h'\nhealth-every = 0\n")
    manager = TaskManager(source, maintenance=True)
    tasks = {task.id: task for task in manager.list_tasks()}
    assert set(tasks) == set(BUILTINS) - {"lazyext.health"}
    assert tasks["lazyext.gc"].trigger_args == {"seconds": 7200.0}
    assert tasks["lazyext.gc"].kwargs == {"config": str(source)}
    assert all(task.builtin and task.persistent for task in tasks.values())
    manager.pause_task("lazyext.gc")
    source.write_text(source.read_text().replace("'2h'", "'3h'"), encoding="utf-8")
    again = TaskManager(source, maintenance=True).get_task("lazyext.gc")
    assert (again.trigger_args, again.enabled) == ({"seconds": 10800.0}, False)
    source.write_text(source.read_text() + "enabled = false\n", encoding="utf-8")
    assert TaskManager(source, maintenance=True).list_tasks() == []


def test_two_schedulers_storing_the_builtin_tasks_at_once(wheelhouse: Wheelhouse) -> None:
    # Another process stores the built-in tasks between this one's look-up and its
    # insert (two `lazyext scheduler` starting together on a new data directory).
    source = write_config(wheelhouse, {})
    other = SqliteTasks()
    other.all()  # the tables exist
    holder = _state.connect(other.directory)
    holder.execute("BEGIN IMMEDIATE")
    for task_id, (func, _setting, retries) in BUILTINS.items():
        holder.execute(
            "INSERT INTO tasks (id, name, func_path, trigger, trigger_args, max_retries, "
            "builtin) VALUES (?, ?, ?, 'interval', '{\"seconds\": 60}', ?, 1)",
            (task_id, task_id, func, retries),
        )
    outcome: list[BaseException | TaskManager] = []

    def start() -> None:
        try:
            outcome.append(TaskManager(source, maintenance=True))
        except BaseException as error:
            outcome.append(error)

    starting = threading.Thread(target=start)
    starting.start()
    time.sleep(1.0)  # its look-ups see no task (not committed), then it waits to write
    holder.execute("COMMIT")
    holder.close()
    starting.join(timeout=60)
    assert len(outcome) == 1
    assert isinstance(outcome[0], TaskManager), outcome
    tasks = {task.id: task for task in outcome[0].list_tasks()}
    assert set(tasks) == set(BUILTINS)
    assert tasks["lazyext.gc"].trigger_args == {"seconds": 86400.0}  # as configured here


# -- refresh -----------------------------------------------------------------------------

_READER = """
    import sys, lazyext
    lazyext.activate()
    import tinyyaml
    print(tinyyaml.__file__, flush=True)
    sys.stdin.readline()           # the parent refreshes and collects meanwhile
    import tinyyaml.sub            # a lazy submodule, from the generation it started on
    print(tinyyaml.sub.__file__, tinyyaml.load(""), flush=True)
"""


def test_refresh_publishes_a_new_generation_while_a_reader_keeps_working(
    tmp_path: Path,
) -> None:
    wheelhouse = Wheelhouse(tmp_path / "wheels")  # its own: a release appears below
    build_tinyyaml(wheelhouse)
    source = write_config(wheelhouse, {"tinyyaml": "TinyYaml>=6"})
    config = load(source, {})
    warm((), config)  # installed, but not imported here: only the reader holds it
    old = entry_of(config, "tinyyaml")
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_READER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=python_env(),
    )
    try:
        assert reader.stdout is not None
        assert reader.stdin is not None
        assert reader.stdout.readline().startswith(old.target)
        # Not expired yet: nothing to do.
        assert refresh_expired(config)["fresh"] == ["tinyyaml"]
        # A new release: the refresh resolves again and installs it (an unchanged
        # version would be the same content under the same key: nothing to install).
        build_tinyyaml(wheelhouse, version="6.2")
        # Two hours later (the task clock), through the scheduled task itself.
        manager = TaskManager(source, maintenance=True, clock=FakeClock(time.time() + 2 * 3600))
        assert manager.run_task("lazyext.refresh") == manager.task_runs("lazyext.refresh")[-1]
        assert manager.get_task("lazyext.refresh").status == "ok"
        new = entry_of(config, "tinyyaml")
        assert new.path != old.path
        assert new.installed_at > old.installed_at
        # gc, also two hours later: the old generation is past its grace, but in use.
        gc_run = manager.run_task("lazyext.gc")
        assert gc_run is not None
        assert gc_run.ok
        assert os.path.isdir(old.target)
        reader.stdin.write("go\n")
        reader.stdin.flush()
        sub_file, value = reader.stdout.readline().split()
        assert sub_file.startswith(old.target)
        assert value == "42"
        assert reader.wait(30) == 0, reader.stderr.read() if reader.stderr else ""
    finally:
        if reader.poll() is None:
            reader.kill()
        reader.communicate()
    fresh = run_python(
        "import lazyext; lazyext.activate(); import tinyyaml; print(tinyyaml.__file__)"
    )
    assert fresh.stdout.startswith(new.target), fresh.stderr
    # The reader is gone: its lease too.
    lazyext.deactivate()
    report = collect_garbage(config, now=time.time() + 2 * 3600)
    assert old.path in report.removed
    assert os.path.isdir(new.target)


def test_a_failed_refresh_is_reported_and_the_old_install_keeps_serving(
    tmp_path: Path, managers: list[TaskManager]
) -> None:
    house = Wheelhouse(tmp_path / "house")
    wheel = house.build("gamma", "1.0", {"gamma/__init__.py": "NAME = 'gamma'\n"})
    source = write_config(house, {"gamma": "gamma"})
    config = load(source, {})
    warm((), config)
    old = entry_of(config, "gamma")
    wheel.unlink()  # the index lost the distribution
    report = refresh_expired(config, force=True)
    assert list(report["failed"]) == ["gamma"]
    assert entry_of(config, "gamma") == old
    manager = TaskManager(source, maintenance=True, clock=FakeClock(time.time() + 7200))
    run = manager.run_task("lazyext.refresh")
    assert run is not None
    assert (run.status, run.attempts) == ("failed", 3)  # retried twice, then recorded
    assert "refresh failed for gamma" in run.error
    assert entry_of(config, "gamma") == old


# -- gc ----------------------------------------------------------------------------------


def test_gc_evicts_unused_installs_only(wheelhouse: Wheelhouse) -> None:
    source = write_config(wheelhouse, {"alpha": "alpha", "tinyyaml": "TinyYaml>=6"})
    config = load(source, {})
    warm((), config)
    stale, used = entry_of(config, "alpha"), entry_of(config, "tinyyaml")
    long_ago = time.time() - 40 * DAY
    os.utime(stale.path, (long_ago, long_ago))
    assert collect_garbage(config, unused_days=0).removed == []
    report = collect_garbage(config, unused_days=30)
    assert report.removed == [stale.path]
    assert os.path.isdir(used.target)


def test_last_use_is_recorded_at_most_daily(wheelhouse: Wheelhouse) -> None:
    source = write_config(wheelhouse, {"alpha": "alpha", "tinyyaml": "TinyYaml>=6"})
    config = load(source, {})
    warm((), config)
    days_ago, hour_ago = time.time() - 2 * DAY, time.time() - 3600
    alpha, tiny = entry_of(config, "alpha"), entry_of(config, "tinyyaml")
    os.utime(alpha.path, (days_ago, days_ago))
    os.utime(tiny.path, (hour_ago, hour_ago))
    done = run_python("import lazyext; lazyext.activate(); import alpha, tinyyaml")
    assert done.returncode == 0, done.stderr
    assert _cache.last_used(alpha.path) > time.time() - 600
    assert _cache.last_used(tiny.path) == pytest.approx(hour_ago)


def test_gc_fits_a_size_budget_least_recently_used_first(wheelhouse: Wheelhouse) -> None:
    source = write_config(wheelhouse, {"alpha": "alpha", "pthpkg": "pthpkg", "tiny": "TinyYaml"})
    config = load(source, {})
    warm((), config)
    entries = [entry_of(config, name) for name in ("alpha", "pthpkg", "tiny")]
    for age, entry in zip((3, 2, 1), entries, strict=True):
        then = time.time() - age * 3600
        os.utime(entry.path, (then, then))
    sizes = [_cache.dir_size(entry.path) for entry in entries]
    total = sum(
        _cache.dir_size(path) for *_, path in _cache.iter_generations(config.settings.cache_dir)
    )  # tinydep, TinyYaml's dependency, is an entry too (the newest)
    report = collect_garbage(config, max_bytes=total - sizes[0])
    assert report.removed == [entries[0].path]
    assert report.kept_bytes == total - sizes[0]
    assert all(os.path.isdir(entry.path) for entry in entries[1:])


def test_gc_never_evicts_what_a_live_process_imported(wheelhouse: Wheelhouse) -> None:
    source = write_config(wheelhouse, {"alpha": "alpha"})
    lazyext.activate(source)
    import alpha  # type: ignore[import-not-found]  # noqa: F401

    config = load(source, {})
    entry = entry_of(config, "alpha")
    report = gc_collect(
        config.settings.cache_dir, unused_days=1, max_bytes=1, now=time.time() + 30 * DAY
    )
    assert report.removed == []
    assert entry.path in report.skipped_in_use


# -- warm and health ---------------------------------------------------------------------


def test_the_warm_task_installs_missing_extensions(wheelhouse: Wheelhouse) -> None:
    source = write_config(wheelhouse, {"alpha": "alpha"})
    manager = TaskManager(source, maintenance=True)
    warm = manager.get_task("lazyext.warm")
    assert warm.next_run is not None
    assert warm.next_run <= time.time()  # due at once
    run = manager.run_task("lazyext.warm")
    assert run is not None
    assert run.ok, run
    entry_of(load(source, {}), "alpha")


def test_health_imports_each_extension_in_a_child(wheelhouse: Wheelhouse) -> None:
    source = write_config(
        wheelhouse, {"tinyyaml": "TinyYaml>=6", "broken_import": "broken-import", "alpha": "alpha"}
    )
    config = load(source, {})
    warm(("tinyyaml", "broken_import"), config)
    results = {result["name"]: result for result in check_health(config, timeout=60)}
    assert results["tinyyaml"]["ok"]
    assert "tinyyaml 6.1 from" in results["tinyyaml"]["detail"]
    assert not results["broken_import"]["ok"]
    assert "RuntimeError: boom" in results["broken_import"]["detail"]
    assert (results["alpha"]["ok"], results["alpha"]["detail"]) == (
        False,
        "not installed (run: lazyext warm)",
    )
    assert "tinyyaml" not in sys.modules  # the checks ran elsewhere
    recorded = {row["name"]: row["ok"] for row in SqliteTasks().health()}
    assert recorded == {"tinyyaml": True, "broken_import": False, "alpha": False}
