"""The seed's ("manager" design) task API shapes, and bugs found trying them."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from tasktools import FakeClock

from lazyext.cli import main
from lazyext.tasks import TaskManager, TaskNotFoundError

CALLS: list[str] = []


def my_function() -> None:
    CALLS.append("my_function")


def daily_report() -> None:
    CALLS.append("daily_report")


def test_the_seed_task_scheduling_example_runs_as_written() -> None:
    Manager = TaskManager()  # the one change: `from manager import Manager`

    # -- the seed's example, verbatim from here --
    # Add an interval task
    task = Manager.add_task(func=my_function, trigger="interval", id="cleanup_task", minutes=30)

    # Add a cron task
    task = Manager.add_task(func=daily_report, trigger="cron", id="daily_report", hour=9, minute=0)

    # Pause a task
    Manager.pause_task(task.id)

    # Resume a task
    Manager.resume_task(task.id)

    # Remove a task
    Manager.remove_task(task.id)
    # -- end of the seed's example --

    assert [t.id for t in Manager.list_tasks()] == ["cleanup_task"]
    cleanup = Manager.get_task("cleanup_task")
    assert (cleanup.trigger, dict(cleanup.trigger_args)) == ("interval", {"minutes": 30})
    with pytest.raises(TaskNotFoundError):
        Manager.get_task("daily_report")


def test_func_keyword_positional_id_and_name(clock: FakeClock) -> None:
    manager = TaskManager(clock=clock)
    by_position = manager.add_task(my_function, "interval", "beat", name="Heartbeat", seconds=5)
    assert (by_position.id, by_position.name) == ("beat", "Heartbeat")
    stored = manager.add_task(func="taskfuncs:noop", trigger="cron", id="nightly", hour=3)
    assert (stored.func, stored.persistent) == ("taskfuncs:noop", True)
    assert manager.run_task("beat") is not None
    assert CALLS[-1] == "my_function"
    manager.remove_task("nightly")


def test_a_date_task_that_ran_has_no_next_run_after_pause_and_resume(clock: FakeClock) -> None:
    manager = TaskManager(clock=clock)
    when = dt.datetime.fromtimestamp(clock.now + 60, dt.UTC)
    manager.add_task(my_function, "date", id="once", run_date=when)
    assert manager.get_task("once").next_run == clock.now + 60
    clock.now += 120
    run = manager.run_task("once")
    assert run is not None
    assert run.ok
    manager.pause_task("once")
    resumed = manager.resume_task("once")
    assert resumed.enabled
    assert resumed.next_run is None  # not its date, now two minutes in the past


def test_a_date_task_added_in_the_past_runs_now(
    clock: FakeClock, managers: list[TaskManager]
) -> None:
    manager = TaskManager(clock=clock)
    past = dt.datetime.fromtimestamp(clock.now - 3600, dt.UTC)
    task = manager.add_task(my_function, "date", id="late", run_date=past)
    assert task.next_run == clock.now  # not an hour ago: it runs as soon as it can
    assert manager.get_task("late").next_run == clock.now
    assert task.trigger_args == {"run_date": past.isoformat()}  # the date itself is kept
    # A running scheduler runs it once, at once.
    live = TaskManager()
    managers.append(live)
    live.start()
    when = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    live.add_task("taskfuncs:noop", "date", id="late_live", run_date=when)
    deadline = time.monotonic() + 20
    while live.get_task("late_live").run_count == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    ran = live.get_task("late_live")
    assert ran.run_count == 1
    assert ran.next_run is None


def test_a_taken_id_on_the_command_line_says_how_to_replace_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["tasks", "add", "taskfuncs:noop", "--id", "dup", "--every", "1h"]
    assert main(argv) == 0
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert "--replace" in err
    assert "replace_existing" not in err
    assert main([*argv, "--replace"]) == 0
    TaskManager().remove_task("dup")
