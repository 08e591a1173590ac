"""``[tasks] directory``: modules of ``@task`` functions, stored at ``start()``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import lazyext
from lazyext.tasks import TaskManager, task

JOB = """\
from lazyext.tasks import task

RUNS = []


@task("interval", minutes={minutes}, id="cleanup_task", max_retries=1)
def cleanup():
    RUNS.append("cleanup")


@task("cron", hour=9, minute=0)
def daily_report():
    RUNS.append("report")


def helper():  # not declared: not a task
    pass
"""


@pytest.fixture
def jobs() -> Iterator[Path]:
    Path("lazyext.toml").write_text('[tasks]\ndirectory = "jobs"\n', encoding="utf-8")
    folder = Path("jobs")
    folder.mkdir(mode=0o755)
    (folder / "nightly_jobs.py").write_text(JOB.format(minutes=30), encoding="utf-8")
    (folder / "_private.py").write_text("raise RuntimeError('never imported')\n")
    yield folder
    sys.modules.pop("nightly_jobs", None)


def started(**options: object) -> TaskManager:
    manager = TaskManager(election_interval=60, **options)  # type: ignore[arg-type]
    manager.start()
    manager.shutdown()
    return manager


def test_declared_tasks_are_stored_at_start_and_run(jobs: Path) -> None:
    manager = started()
    tasks = {t.id: t for t in manager.list_tasks()}
    assert set(tasks) == {"cleanup_task", "nightly_jobs:daily_report"}
    cleanup = tasks["cleanup_task"]
    assert (cleanup.func, cleanup.trigger, dict(cleanup.trigger_args), cleanup.max_retries) == (
        "nightly_jobs:cleanup",
        "interval",
        {"minutes": 30},
        1,
    )
    run = manager.run_task("cleanup_task")
    assert run is not None
    assert run.ok
    assert sys.modules["nightly_jobs"].RUNS == ["cleanup"]

    again = started()  # unchanged: left alone, the schedule undisturbed
    assert again.get_task("cleanup_task").revision == cleanup.revision

    (jobs / "nightly_jobs.py").write_text(JOB.format(minutes=5), encoding="utf-8")
    sys.modules.pop("nightly_jobs")  # a new process would import the edited module
    changed = started().get_task("cleanup_task")
    assert dict(changed.trigger_args) == {"minutes": 5}
    assert changed.revision > cleanup.revision


def test_the_directory_can_be_given_to_the_manager(tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir(mode=0o700)
    (folder / "given_jobs.py").write_text(
        "from lazyext.tasks import task\n@task('interval', hours=1)\ndef ping():\n    pass\n"
    )
    try:
        assert [t.id for t in started(tasks_directory=folder).list_tasks()] == ["given_jobs:ping"]
    finally:
        sys.modules.pop("given_jobs", None)


def test_an_unsafe_or_shadowed_directory_is_refused(jobs: Path) -> None:
    jobs.chmod(0o777)
    with pytest.raises(lazyext.UnsafeCacheError, match="writable by"):
        TaskManager().start()
    jobs.chmod(0o755)
    (jobs / "nightly_jobs.py").chmod(0o666)
    with pytest.raises(lazyext.ConfigError, match="writable by its group or others"):
        TaskManager().start()
    (jobs / "nightly_jobs.py").chmod(0o644)
    (jobs / "json.py").write_text("X = 1\n")
    with pytest.raises(lazyext.ConfigError, match="is hidden by the module 'json'"):
        TaskManager().start()


def test_task_returns_the_function_unchanged() -> None:
    def work() -> None:
        pass

    assert task("interval", seconds=5)(work) is work
