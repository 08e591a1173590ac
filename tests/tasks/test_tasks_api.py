"""TaskManager's API: validation, errors, running, retries, timeouts, pause/resume."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import taskfuncs  # type: ignore[import-not-found]
from tasktools import FakeClock, wait_for

import lazyext
from lazyext.tasks import (
    SchedulerStateError,
    TaskExistsError,
    TaskManager,
    TaskNotFoundError,
)

from support import run_python

# -- add_task refuses bad input before anything is stored -------------------------------


@pytest.mark.parametrize(
    ("func", "trigger", "options", "message"),
    [
        ("taskfuncs:noop", "weekly", {"seconds": 1}, "unknown trigger 'weekly'"),
        ("taskfuncs:noop", "interval", {"secs": 1}, "unknown argument(s) secs"),
        ("taskfuncs:noop", "interval", {"minutes": "soon"}, "interval trigger"),
        ("taskfuncs:noop", "interval", {}, "positive interval"),
        ("taskfuncs:noop", "interval", {"seconds": -5}, "positive interval"),
        ("taskfuncs:noop", "cron", {"hour": 25}, "cron trigger"),
        ("taskfuncs:noop", "cron", {"day_of_week": "someday"}, "cron trigger"),
        ("taskfuncs:noop", "date", {"run_date": "not a date"}, "date trigger"),
        ("taskfuncs:noop", "interval", {"seconds": [1]}, "not a number, string or date"),
        ("no_such_module_xyz:run", "interval", {"seconds": 1}, "cannot import"),
        ("taskfuncs:missing", "interval", {"seconds": 1}, "has no attribute 'missing'"),
        ("taskfuncs:NOT_CALLABLE", "interval", {"seconds": 1}, "is not callable"),
        ("taskfuncs.noop", "interval", {"seconds": 1}, "package.module:function"),
        ("taskfuncs:noop", "interval", {"seconds": 1, "max_retries": -1}, "max_retries"),
        ("taskfuncs:noop", "interval", {"seconds": 1, "timeout": 0}, "timeout"),
        ("taskfuncs:noop", "interval", {"seconds": 1, "kwargs": {"x": object()}}, "JSON"),
        ("taskfuncs:noop", "interval", {"seconds": 1, "id": "lazyext:mine"}, "reserved"),
    ],
)
def test_add_task_rejects_bad_input(
    func: str, trigger: str, options: dict[str, Any], message: str
) -> None:
    manager = TaskManager()
    with pytest.raises(lazyext.ConfigError) as caught:
        manager.add_task(func, trigger, **options)
    assert isinstance(caught.value, ValueError)
    assert message in str(caught.value)
    assert manager.list_tasks() == []


def test_unknown_ids_raise_a_lookup_error() -> None:
    manager = TaskManager()
    for call in (
        manager.get_task,
        manager.remove_task,
        manager.pause_task,
        manager.resume_task,
        manager.run_task,
    ):
        with pytest.raises(TaskNotFoundError) as caught:
            call("ghost")
        assert isinstance(caught.value, KeyError)
        assert isinstance(caught.value, LookupError)
        assert isinstance(caught.value, lazyext.LazyextError)
        assert str(caught.value) == "no task with id 'ghost'"


def test_duplicate_ids_and_replacing() -> None:
    manager = TaskManager()
    first = manager.add_task("taskfuncs:noop", "interval", seconds=10)
    assert first.id == "taskfuncs:noop"
    with pytest.raises(TaskExistsError, match="exists already") as caught:
        manager.add_task("taskfuncs:fail", "interval", id="taskfuncs:noop", seconds=5)
    assert isinstance(caught.value, ValueError)
    replaced = manager.add_task(
        "taskfuncs:fail", "cron", id="taskfuncs:noop", replace_existing=True, minute="*/5"
    )
    assert (replaced.func, replaced.trigger, replaced.revision) == ("taskfuncs:fail", "cron", 2)
    with pytest.raises(SchedulerStateError, match=r"stored task has .*; choose another id"):
        manager.add_task(taskfuncs.noop, "interval", id="taskfuncs:noop", seconds=1)


def test_callables_stay_in_memory_unless_stored_by_path() -> None:
    manager = TaskManager()
    local = manager.add_task(lambda: None, "interval", id="local", seconds=1)
    assert not local.persistent
    stored = manager.add_task(taskfuncs.noop, "interval", persist=True, seconds=1)
    assert (stored.id, stored.persistent) == ("taskfuncs:noop", True)
    with pytest.raises(lazyext.ConfigError, match="cannot be stored"):
        manager.add_task(lambda: None, "interval", id="x", persist=True, seconds=1)
    # A new manager on the same data directory sees the stored task only.
    assert [task.id for task in TaskManager().list_tasks()] == ["taskfuncs:noop"]


def test_triggers_are_stored_as_json_and_dates_get_fixed() -> None:
    manager = TaskManager()
    when = "2031-01-02T03:04:05+00:00"
    task = manager.add_task("taskfuncs:noop", "date", id="once", run_date=when)
    assert task.trigger_args == {"run_date": when}
    assert task.next_run == dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp()
    now_task = manager.add_task("taskfuncs:noop", "date", id="now")
    assert "run_date" in now_task.trigger_args  # "now" is pinned, not re-evaluated later


def test_taskmanager_is_lazy_and_apscheduler_comes_with_use() -> None:
    done = run_python(
        """
        import sys, lazyext
        print(sorted(m for m in ("apscheduler", "sqlite3", "lazyext.tasks") if m in sys.modules))
        TaskManager = lazyext.TaskManager
        manager = TaskManager()
        manager.list_tasks()
        print("apscheduler" in sys.modules)
        manager.add_task(print, "interval", id="p", seconds=60)
        print("apscheduler" in sys.modules)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["[]", "False", "True"]


# -- running -----------------------------------------------------------------------------


def test_a_real_scheduler_runs_a_short_interval_task(managers: list[TaskManager]) -> None:
    calls: list[float] = []
    enough = threading.Event()

    def tick() -> None:
        calls.append(time.monotonic())
        if len(calls) >= 3:
            enough.set()

    manager = TaskManager(election_interval=60)
    managers.append(manager)
    manager.add_task(tick, "interval", id="tick", seconds=0.05)
    manager.start()
    assert manager.running
    assert enough.wait(30)
    manager.shutdown()
    task = manager.get_task("tick")
    assert task.run_count >= 3
    statuses = [run.status for run in manager.task_runs("tick")]
    assert statuses.count("ok") >= 3
    assert set(statuses) <= {"ok", "skipped"}  # skipped: a loaded host ran one late
    with pytest.raises(SchedulerStateError):
        manager.start()


def test_failing_runs_are_retried_with_doubling_backoff(clock: FakeClock) -> None:
    manager = TaskManager(clock=clock, retry_backoff=1.5)
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("index unreachable")

    manager.add_task(flaky, "interval", id="flaky", seconds=60, max_retries=3)
    run = manager.run_task("flaky")
    assert run is not None
    assert (run.status, run.attempts, run.error) == ("ok", 3, "")
    assert clock.sleeps == [1.5, 3.0]
    manager.add_task(taskfuncs.fail, "interval", id="fail", seconds=60, max_retries=2)
    clock.sleeps.clear()
    run = manager.run_task("fail")
    assert run is not None
    assert (run.status, run.attempts, run.error) == ("failed", 3, "ValueError: boom")
    assert clock.sleeps == [1.5, 3.0]
    assert run.finished - run.started == pytest.approx(4.5)  # the clock's time, not real
    task = manager.get_task("fail")
    assert (task.status, task.last_error, task.run_count) == ("failed", "ValueError: boom", 1)


def test_no_retries_means_one_attempt(clock: FakeClock) -> None:
    manager = TaskManager(clock=clock)
    manager.add_task("taskfuncs:fail", "interval", seconds=60, max_retries=0)
    run = manager.run_task("taskfuncs:fail")
    assert run is not None
    assert (run.status, run.attempts, clock.sleeps) == ("failed", 1, [])


def test_a_run_past_its_timeout_is_marked_and_never_piles_up() -> None:
    gate = threading.Event()
    started: list[str] = []

    def hang() -> None:
        started.append(threading.current_thread().name)
        gate.wait(30)

    manager = TaskManager()
    manager.add_task(hang, "interval", id="hang", seconds=60, timeout=0.2, max_retries=3)
    try:
        first = manager.run_task("hang")
        assert first is not None
        assert (first.status, first.attempts) == ("timed_out", 1)  # a timeout is not retried
        assert "timed out after 0.2 s" in first.error
        second = manager.run_task("hang")
        assert second is not None
        assert second.status == "skipped"
        assert "timed out is still going" in second.error
        assert len(started) <= 1  # no second attempt, no second run
    finally:
        gate.set()
    for _ in range(200):  # the abandoned attempt returns once the gate opens
        third = manager.run_task("hang")
        assert third is not None
        if third.status != "skipped":
            break
        time.sleep(0.01)
    assert third.status == "ok"
    assert len(started) == 2  # the hung run and the last one: nothing ran alongside
    statuses = [run.status for run in manager.task_runs("hang")]
    assert statuses[:2] == ["timed_out", "skipped"]
    assert manager.get_task("hang").run_count == 2  # skipped runs did not run


def test_pause_and_resume(managers: list[TaskManager], tmp_path: Path) -> None:
    calls: list[int] = []
    manager = TaskManager(election_interval=60)
    managers.append(manager)
    manager.add_task(lambda: calls.append(1), "interval", id="beat", seconds=0.05)
    manager.start()
    wait_for(lambda: len(calls) >= 2)
    paused = manager.pause_task("beat")
    assert (paused.enabled, paused.next_run) == (False, None)
    time.sleep(0.1)  # a run handed to the executor before the pause may still finish
    wait_for(lambda: manager.get_task("beat").status != "running")
    settled = len(calls)
    time.sleep(0.4)  # eight intervals: a paused task does not run
    assert len(calls) == settled
    resumed = manager.resume_task("beat")
    assert resumed.enabled
    assert resumed.next_run is not None
    wait_for(lambda: len(calls) >= settled + 2)


def test_shutdown_from_inside_a_task_does_not_raise(managers: list[TaskManager]) -> None:
    manager = TaskManager(election_interval=60)
    managers.append(manager)
    returned = threading.Event()

    def stop_everything() -> None:
        manager.shutdown()
        returned.set()

    manager.add_task(stop_everything, "interval", id="stopper", seconds=0.05)
    manager.start()
    assert returned.wait(30)
    wait_for(lambda: not manager.running and manager.get_task("stopper").status == "ok")
    assert manager.get_task("stopper").last_error == ""


def test_overrunning_jobs_are_skipped_not_stacked(managers: list[TaskManager]) -> None:
    running: list[int] = []
    overlap: list[int] = []
    runs: list[int] = []

    def long_one() -> None:
        running.append(1)
        overlap.append(len(running))
        time.sleep(0.15)
        running.pop()
        runs.append(1)

    manager = TaskManager(election_interval=60)
    managers.append(manager)
    manager.add_task(long_one, "interval", id="long", seconds=0.03)
    manager.start()
    wait_for(lambda: len(runs) >= 2)
    manager.shutdown()
    assert max(overlap) == 1
    statuses = {run.status for run in manager.task_runs("long")}
    assert {"ok", "skipped"} <= statuses


def test_interpreter_exit_with_jobs_due_prints_no_traceback() -> None:
    # APScheduler alone: "RuntimeError: cannot schedule new futures after interpreter
    # shutdown" (#918, #985) when a job falls due while the interpreter exits.
    code = """
        import time
        from lazyext.tasks import TaskManager
        manager = TaskManager(election_interval=60)
        for n in range(4):
            manager.add_task(lambda: time.sleep(0.05), "interval", id=f"s{n}", seconds=0.01)
        manager.start()
        time.sleep(0.3)
        print("leaving")
    """
    for _ in range(3):  # the race at exit is likely, not certain: give it chances
        done = run_python(code)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "leaving"
        assert "Traceback" not in done.stderr
        assert "cannot schedule new futures" not in done.stderr


def test_a_run_ending_after_its_task_was_removed_leaves_no_history() -> None:
    # Removed by another process while it ran: a new task of that id starts clean.
    manager = TaskManager()
    manager.add_task("taskfuncs:wait_for_gate", "interval", id="gone", hours=1)
    taskfuncs.GATE.clear()
    runs: list[Any] = []
    running = threading.Thread(target=lambda: runs.append(manager.run_task("gone")))
    running.start()
    try:
        wait_for(lambda: manager.get_task("gone").status == "running")
        assert TaskManager().remove_task("gone") is None
    finally:
        taskfuncs.GATE.set()
    running.join(timeout=60)
    assert runs[0].status == "ok"
    again = manager.add_task("taskfuncs:noop", "interval", id="gone", hours=1)
    assert (again.run_count, again.status) == (0, "new")
    assert manager.task_runs("gone") == []
