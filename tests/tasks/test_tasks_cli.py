"""The commands: lazyext tasks ..., scheduler, refresh, health and gc's eviction options."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tasktools import wait_for

from lazyext._report.status import main_entry
from lazyext._settings.load import load
from lazyext._use import warm
from lazyext.cli import main
from lazyext.tasks import TaskManager

from support import Wheelhouse


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_task_verbs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "runs.txt"
    kwargs = json.dumps({"path": str(out), "tag": "cli"})
    code, text = run(capsys, "tasks", "add", "taskfuncs:record", "--id", "rec", "--every", "1h",
                     "--kwargs", kwargs, "--max-retries", "1")  # fmt: skip
    assert code == 0, text
    assert "added rec: interval[seconds=3600.0]" in text
    listed = run_json(capsys, "tasks", "list")
    assert isinstance(listed, dict)
    assert listed["runner"] is None
    assert [(t["id"], t["enabled"], t["kwargs"]["tag"]) for t in listed["tasks"]] == [
        ("rec", True, "cli")
    ]
    assert run(capsys, "tasks", "pause", "rec")[0] == 0
    code, text = run(capsys, "tasks", "list")
    assert "paused (new)" in text
    resumed = run_json(capsys, "tasks", "resume", "rec")
    assert resumed["task"]["enabled"] is True  # type: ignore[index]
    ran = run_json(capsys, "tasks", "run", "rec")["run"]  # type: ignore[index]
    assert isinstance(ran, dict)
    assert (ran["status"], ran["attempts"]) == ("ok", 1)
    assert out.read_text() == f"{os.getpid()} cli\n"
    shown = run_json(capsys, "tasks", "show", "rec")
    assert isinstance(shown, dict)
    assert [r["status"] for r in shown["runs"]] == ["ok"]
    assert shown["task"]["run_count"] == 1
    # Times in ISO 8601 with the local offset, not raw epoch seconds (issue 25 item 7).
    code, text = run(capsys, "tasks", "show", "rec")
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"
    assert re.search(rf"^last_run +{iso}$", text, re.M), text
    assert re.search(rf"^next_run +{iso}$", text, re.M), text
    assert re.search(rf"^{iso} +ok +1", text, re.M), text  # the runs' table
    cron = ("--cron", "*/5 * * * mon-fri", "--max-retries", "0")
    assert run(capsys, "tasks", "add", "taskfuncs:fail", *cron)[0] == 0
    code, text = run(capsys, "tasks", "run", "taskfuncs:fail")
    assert code == 1
    assert "taskfuncs:fail: failed after 1 attempt(s)" in text
    assert "ValueError: boom" in text
    assert run(capsys, "tasks", "add", "taskfuncs:noop", "--at", "2031-01-02T03:04:05")[0] == 0
    assert run(capsys, "tasks", "remove", "rec")[0] == 0
    code, text = run(capsys, "tasks", "remove", "rec")
    # An unknown name is a usage error (the CLI contract: tests/ux/test_cli_contract.py).
    assert (code, text.strip()) == (2, "lazyext: no task with id 'rec'")
    ids = [t["id"] for t in run_json(capsys, "tasks", "list")["tasks"]]  # type: ignore[index]
    assert ids == ["taskfuncs:fail", "taskfuncs:noop"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["taskfuncs:nope", "--every", "1m"], "has no attribute 'nope'"),
        (["taskfuncs:noop", "--every", "soon"], "expected a duration"),
        (["taskfuncs:noop", "--cron", "* * *"], "five fields"),
        (["taskfuncs:noop", "--cron", "* 99 * * *"], "cron trigger"),
        (["taskfuncs:noop", "--at", "someday"], "date trigger"),
        (["taskfuncs:noop", "--every", "1m", "--kwargs", "[1]"], "JSON object"),
        (["taskfuncs:noop"], "one of the arguments --every --cron --at is required"),
    ],
)
def test_bad_task_options_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, text = run(capsys, "tasks", "add", *argv)
    assert code == 2
    assert message in text
    assert TaskManager().list_tasks() == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_foreground_scheduler_runs_stored_tasks_and_stops_cleanly(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    child_env: dict[str, str],
    signum: signal.Signals,
) -> None:
    Path("lazyext.toml").write_text(
        "[maintenance]\nelection-interval = '0.1s'\nwarm-every = 0\n", encoding="utf-8"
    )
    out = tmp_path / "runs.txt"
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "lazyext", "scheduler"],
        env=child_env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert scheduler.stderr is not None
        first = scheduler.stderr.readline()
        while "lazyext scheduler:" not in first:
            first = scheduler.stderr.readline()
        # A service's log: timestamp, level, logger name (issue 14).
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO lazyext\.tasks: ", first)
        assert "running the stored tasks" in first
        assert run_json(capsys, "tasks", "list")["runner"]["pid"] == scheduler.pid  # type: ignore[index]
        # Added by another process while the scheduler runs: picked up at the next tick.
        kwargs = json.dumps({"path": str(out)})
        added = run(
            capsys, "tasks", "add", "taskfuncs:record", "--every", "0.05s", "--kwargs", kwargs
        )
        assert added[0] == 0, added[1]
        wait_for(lambda: out.exists() and f"{scheduler.pid}\n" in out.read_text())
        # A second run starts only once the first one returned, after logging its outcome.
        wait_for(lambda: TaskManager().get_task("taskfuncs:record").run_count >= 2)
        scheduler.send_signal(signum)
        assert scheduler.wait(30) == 0
        rest = scheduler.stderr.read()
        assert "INFO lazyext.tasks: lazyext scheduler: stopped" in rest
        assert re.search(r" INFO lazyext\.tasks: task taskfuncs:record: ok after 1 attempt", rest)
        assert "Traceback" not in rest
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
        scheduler.communicate()
    assert run_json(capsys, "tasks", "list")["runner"] is None  # type: ignore[index]
    builtin = {t["id"] for t in run_json(capsys, "tasks", "list")["tasks"]}  # type: ignore[index]
    assert builtin >= {"lazyext.gc", "lazyext.refresh", "lazyext.health"}
    assert "lazyext.warm" not in builtin
    taker = TaskManager(election_interval=60)
    try:
        taker.start()
        assert taker.is_leader  # the lock went with the scheduler
    finally:
        taker.shutdown()


def _install(wheelhouse: Wheelhouse, names: dict[str, str]) -> Path:
    text = wheelhouse.toml() + "".join(
        f'[[extensions]]\nname = "{n}"\npackage = "{p}"\n' for n, p in names.items()
    )
    path = Path("lazyext.toml").resolve()
    path.write_text(text, encoding="utf-8")
    warm((), load(path, {}))
    return path


def test_gc_eviction_options(capsys: pytest.CaptureFixture[str], wheelhouse: Wheelhouse) -> None:
    source = _install(wheelhouse, {"alpha": "alpha", "tiny": "TinyYaml"})
    config = load(source, {})
    alpha = config.plan_for("alpha")
    assert alpha is not None
    entry = main_entry(config, alpha)
    assert entry is not None
    generations = [Path(entry.path)]
    old = time.time() - 90 * 86400
    os.utime(generations[0], (old, old))
    report = run_json(capsys, "gc", "--unused-days", "120")
    assert report["removed"] == []  # type: ignore[index]
    report = run_json(capsys, "gc", "--unused-days", "60")
    assert report["removed"] == [str(generations[0])]  # type: ignore[index]
    report = run_json(capsys, "gc", "--max-size", "1")
    # What is left: TinyYaml and its dependency tinydep, one entry each.
    assert len(report["removed"]) == 2  # type: ignore[index,arg-type]
    assert report["kept_bytes"] == 0  # type: ignore[index]
    code, text = run(capsys, "gc", "--max-size", "lots")
    assert (code, "expected a size" in text) == (2, True)


def test_refresh_and_health_commands(
    capsys: pytest.CaptureFixture[str], wheelhouse: Wheelhouse
) -> None:
    _install(wheelhouse, {"alpha": "alpha", "broken_import": "broken-import"})
    report: Any = run_json(capsys, "refresh")  # lazyext._shapes: one report shape
    assert [(r["name"], r["state"]) for r in report["extensions"]] == [
        ("alpha", "fresh"),
        ("broken_import", "fresh"),
    ]
    report = run_json(capsys, "refresh", "alpha", "--force")
    assert [(r["name"], r["state"]) for r in report["extensions"]] == [("alpha", "refreshed")]
    assert run(capsys, "refresh", "nope")[0] == 2
    code, text = run(capsys, "health")
    assert code == 1
    assert "ok     alpha" in text
    assert "FAILED broken_import" in text
    assert "RuntimeError: boom" in text
    assert run(capsys, "health", "alpha")[0] == 0
    assert main(["health", "--last", "--json"]) == 1  # the recorded results, not run again
    last = json.loads(capsys.readouterr().out)["extensions"]
    assert [(r["name"], r["ok"]) for r in last] == [("alpha", True), ("broken_import", False)]
