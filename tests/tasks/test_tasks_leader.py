"""Stored tasks: persistence across restarts, and one runner per data directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from tasktools import wait_for

from lazyext.tasks import TaskManager
from lazyext.tasks._store import SqliteTasks


def _pids(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(line.split()[0]) for line in path.read_text().splitlines() if line.strip()]


def test_stored_tasks_survive_a_restart(tmp_path: Path, managers: list[TaskManager]) -> None:
    out = tmp_path / "runs.txt"
    first = TaskManager()
    first.add_task(
        "taskfuncs:record", "interval", id="rec", seconds=0.05, kwargs={"path": str(out)}
    )
    first.add_task("taskfuncs:noop", "cron", id="nightly", hour=3, minute=15, max_retries=1)
    first.add_task("taskfuncs:noop", "interval", id="hourly", hours=1, timeout=30)
    first.pause_task("nightly")
    before = {task.id: task for task in first.list_tasks()}
    first.shutdown()  # never started: harmless

    second = TaskManager(election_interval=60)
    managers.append(second)
    after = {task.id: task for task in second.list_tasks()}
    assert after == before
    assert after["nightly"].trigger_args == {"hour": 3, "minute": 15}
    assert (after["nightly"].enabled, after["hourly"].timeout) == (False, 30.0)
    second.start()
    assert second.is_leader
    wait_for(lambda: len(_pids(out)) >= 2)
    # The cadence survives the restart: the hourly task keeps its stored next run.
    assert second.get_task("hourly").next_run == pytest.approx(before["hourly"].next_run)
    assert second.get_task("nightly").next_run is None
    second.shutdown()
    assert second.get_task("rec").run_count >= 2
    assert set(_pids(out)) == {os.getpid()}


def test_runs_missed_while_down_are_made_up_once(managers: list[TaskManager]) -> None:
    manager = TaskManager(election_interval=60)
    managers.append(manager)
    manager.add_task("taskfuncs:noop", "interval", id="late", minutes=10)
    # The host was down for 50 minutes: five runs fell due.
    SqliteTasks().set_next_run("late", time.time() - 3000)
    manager.start()
    wait_for(lambda: manager.get_task("late").run_count >= 1)
    time.sleep(0.3)
    task = manager.get_task("late")
    assert task.run_count == 1
    assert task.next_run is not None
    assert task.next_run > time.time() + 500


def test_only_the_leader_runs_stored_tasks_in_one_process(
    tmp_path: Path, managers: list[TaskManager]
) -> None:
    out = tmp_path / "runs.txt"
    setup = TaskManager()
    setup.add_task(
        "taskfuncs:record", "interval", id="rec", seconds=0.05, kwargs={"path": str(out)}
    )
    a = TaskManager(election_interval=0.1)
    b = TaskManager(election_interval=0.1)
    managers.extend([a, b])
    local: list[int] = []
    b.add_task(lambda: local.append(1), "interval", id="local", seconds=0.05)
    a.start()
    b.start()
    assert (a.is_leader, b.is_leader) == (True, False)
    wait_for(lambda: len(local) >= 3)  # b runs its in-memory task while not leading
    assert not b.is_leader
    a.shutdown()
    wait_for(lambda: b.is_leader)
    assert b.get_task("rec").run_count >= 1


_WORKER = """
    import sys, time
    from lazyext.tasks import TaskManager
    manager = TaskManager(election_interval=0.1)
    manager.start()
    role = None
    while True:
        now = "leader" if manager.is_leader else "follower"
        if now != role:
            role = now
            print(role, flush=True)
        time.sleep(0.02)
"""


def _spawn(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_WORKER)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _expect(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdout is not None
    got = process.stdout.readline().strip()
    assert got == line, process.stderr.read() if process.stderr and not got else got


def test_two_processes_one_runner_and_a_takeover(tmp_path: Path, child_env: dict[str, str]) -> None:
    out = tmp_path / "runs.txt"
    TaskManager().add_task(
        "taskfuncs:record", "interval", id="rec", seconds=0.05, kwargs={"path": str(out)}
    )
    first = _spawn(child_env)
    second = None
    try:
        _expect(first, "leader")
        second = _spawn(child_env)
        _expect(second, "follower")
        # Both run for a while: a dozen runs and several lost elections of the second.
        seen = len(_pids(out))
        wait_for(lambda: len(_pids(out)) >= seen + 12)
        assert second.poll() is None
        assert set(_pids(out)) == {first.pid}
        first.send_signal(signal.SIGKILL)  # the hardest exit: no cleanup at all
        first.wait(30)
        _expect(second, "leader")
        wait_for(lambda: second is not None and second.pid in _pids(out))
        assert set(_pids(out)) == {first.pid, second.pid}
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(30)
            if process is not None:
                for stream in (process.stdout, process.stderr):
                    if stream is not None:
                        stream.close()
