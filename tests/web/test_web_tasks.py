"""``/tasks``: the whole lifecycle, then every error case."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")


def _task(path: Path, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "func": "webfuncs:record",
        "trigger": "interval",
        "trigger_args": {"hours": 1},
        "kwargs": {"path": str(path), "tag": "api"},
    }
    body.update(changes)
    return body


def test_task_lifecycle(serve: Callable[..., Any], tmp_path: Path) -> None:
    client = serve()
    out = tmp_path / "runs.txt"
    assert client.get("/tasks").json() == []

    created = client.post("/tasks", json=_task(out, id="sync", max_retries=0))
    assert created.status_code == 201, created.text
    task = created.json()
    assert (task["id"], task["func"], task["trigger"]) == ("sync", "webfuncs:record", "interval")
    assert task["enabled"]
    assert task["persistent"]
    assert task["next_run"] is not None
    assert [t["id"] for t in client.get("/tasks").json()] == ["sync"]
    assert client.get("/tasks/sync").json()["trigger_args"] == {"hours": 1}

    replaced = client.put(
        "/tasks/sync",
        json=_task(out, trigger="cron", trigger_args={"hour": 3, "minute": 15}, timeout=30),
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["trigger"] == "cron"
    assert replaced.json()["trigger_args"] == {"hour": 3, "minute": 15}
    assert replaced.json()["timeout"] == 30
    assert replaced.json()["name"] == "sync"  # kept when left out

    paused = client.post("/tasks/sync/pause").json()
    assert not paused["enabled"]
    # A new definition keeps a paused task paused unless told otherwise.
    assert not client.put("/tasks/sync", json=_task(out)).json()["enabled"]
    resumed = client.post("/tasks/sync/resume").json()
    assert resumed["enabled"]
    assert resumed["next_run"] is not None

    run = client.post("/tasks/sync/run")
    assert run.status_code == 200, run.text
    assert run.json()["status"] == "ok"
    assert run.json()["attempts"] == 1
    # It ran in the server process (this one: the server runs in a thread).
    assert out.read_text(encoding="utf-8") == f"{os.getpid()} api\n"
    runs = client.get("/tasks/sync/runs").json()
    assert [r["status"] for r in runs] == ["ok"]
    assert client.get("/tasks/sync").json()["run_count"] == 1

    deleted = client.delete("/tasks/sync")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert client.get("/tasks/sync").status_code == 404
    assert client.get("/tasks").json() == []


def test_a_failing_run_is_reported_not_raised(serve: Callable[..., Any]) -> None:
    client = serve()
    body = {"func": "webfuncs:fail", "trigger_args": {"hours": 1}, "id": "bad", "max_retries": 0}
    assert client.post("/tasks", json=body).status_code == 201
    run = client.post("/tasks/bad/run").json()
    assert run["status"] == "failed"
    assert "boom from webfuncs" in run["error"]
    assert client.get("/tasks/bad").json()["last_error"] == run["error"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/tasks/nope"),
        ("PUT", "/tasks/nope"),
        ("DELETE", "/tasks/nope"),
        ("POST", "/tasks/nope/run"),
        ("POST", "/tasks/nope/pause"),
        ("POST", "/tasks/nope/resume"),
        ("GET", "/tasks/nope/runs"),
    ],
)
def test_unknown_task_is_404(
    serve: Callable[..., Any], tmp_path: Path, method: str, path: str
) -> None:
    client = serve()
    body = _task(tmp_path / "x") if method == "PUT" else None
    response = client.request(method, path, json=body)
    assert response.status_code == 404, response.text
    detail = response.json()["detail"]
    assert detail["error"] == "TaskNotFoundError"
    assert detail["task_id"] == "nope"
    assert "GET /tasks" in detail["fix"]


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"func": "no_such_module_xyz:run"}, "cannot import"),
        ({"func": "webfuncs:missing"}, "has no attribute"),
        ({"func": "not-a-path"}, "package.module:function"),
        ({"trigger_args": {"fortnights": 2}}, "unknown argument(s) fortnights"),
        ({"trigger_args": {"timeout": 5}}, "unknown argument(s) timeout"),
        ({"trigger_args": {}}, "positive interval"),
        ({"trigger": "cron", "trigger_args": {"hour": 25}}, "cron trigger"),
        ({"id": "lazyext:mine"}, "reserved"),
    ],
)
def test_invalid_task_is_422_with_the_problem(
    serve: Callable[..., Any], tmp_path: Path, changes: dict[str, Any], says: str
) -> None:
    client = serve()
    response = client.post("/tasks", json=_task(tmp_path / "x", **changes))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["error"] == "ConfigError"
    assert any(says in problem for problem in detail["problems"]), detail
    assert client.get("/tasks").json() == []  # nothing stored


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"trigger": "weekly"}, "trigger"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": 0}, "timeout"),
        ({"every": "5m"}, "every"),  # a misspelt option is not ignored
        ({"trigger_args": {"hours": True}}, "trigger_args"),
        ({"func": None}, "func"),
    ],
)
def test_malformed_task_is_422_naming_the_field(
    serve: Callable[..., Any], tmp_path: Path, changes: dict[str, Any], field: str
) -> None:
    client = serve()
    response = client.post("/tasks", json=_task(tmp_path / "x", **changes))
    assert response.status_code == 422, response.text
    locations = [error["loc"] for error in response.json()["detail"]]
    assert any(field in location for location in locations), locations


def test_not_json_is_422(serve: Callable[..., Any]) -> None:
    client = serve()
    response = client.post(
        "/tasks", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_conflicts_are_409(serve: Callable[..., Any], tmp_path: Path, config_file: Path) -> None:
    from lazyext.tasks import TaskManager

    TaskManager(config_file, maintenance=True)  # stores the built-in maintenance tasks
    client = serve()
    assert client.post("/tasks", json=_task(tmp_path / "x", id="t")).status_code == 201

    taken = client.post("/tasks", json=_task(tmp_path / "x", id="t", trigger_args={"hours": 2}))
    assert taken.status_code == 409
    detail = taken.json()["detail"]
    assert detail["error"] == "TaskExistsError"
    assert "PUT /tasks/{id}" in detail["fix"]
    # Issue 23: the message names the request's fields, not the Python keyword.
    assert "replace_existing=True" not in detail["message"]
    assert "'replace_existing': true" in detail["message"]
    assert "'id'" in detail["message"]
    assert client.get("/tasks/t").json()["trigger_args"] == {"hours": 1}
    assert client.post("/tasks/t/run").json()["status"] == "ok"

    # The field it names does what the message says: a new definition, the runs kept.
    body = _task(tmp_path / "x", id="t", trigger_args={"hours": 2}, replace_existing=True)
    replaced = client.post("/tasks", json=body)
    assert replaced.status_code == 201, replaced.text
    assert replaced.json()["trigger_args"] == {"hours": 2}
    assert replaced.json()["run_count"] == 1

    builtin = client.put("/tasks/lazyext.gc", json=_task(tmp_path / "x"))
    assert builtin.status_code == 409
    assert builtin.json()["detail"]["error"] == "BuiltinTask"
    assert "[maintenance]" in builtin.json()["detail"]["fix"]
    body = _task(tmp_path / "x", id="lazyext.gc", replace_existing=True)
    assert client.post("/tasks", json=body).json()["detail"]["error"] == "BuiltinTask"
    assert client.get("/tasks/lazyext.gc").json()["builtin"]  # untouched


def test_the_server_runs_stored_tasks_on_schedule(
    serve: Callable[..., Any], tmp_path: Path
) -> None:
    client = serve()
    out = tmp_path / "scheduled.txt"
    body = _task(out, id="soon", trigger="date", trigger_args={})  # date without run_date: now
    assert client.post("/tasks", json=body).status_code == 201
    deadline = time.monotonic() + 60
    while client.get("/tasks/soon").json()["run_count"] == 0:
        assert time.monotonic() < deadline, "the server's scheduler never ran the task"
        time.sleep(0.05)
    assert out.read_text(encoding="utf-8") == f"{os.getpid()} api\n"
    assert [r["status"] for r in client.get("/tasks/soon/runs").json()] == ["ok"]


def test_stopping_the_server_does_not_wait_for_a_hung_task(
    config_file: Path, tmp_path: Path
) -> None:
    # Ctrl-C or SIGTERM must stop the server although a scheduled run never returns
    # (as `lazyext scheduler` stops): the lifespan's shutdown does not wait for the
    # run, which is recorded as interrupted.
    import webfuncs
    from webkit import client_of

    from lazyext.tasks import TaskManager
    from lazyext.web import create_app

    started = tmp_path / "started.txt"
    body = {"func": "webfuncs:hang", "trigger": "date", "trigger_args": {}, "id": "hung"}
    running = client_of(create_app(config_file))
    client = running.__enter__()
    stopping = threading.Thread(target=running.__exit__, args=(None, None, None), daemon=True)
    try:
        added = client.post("/tasks", json={**body, "kwargs": {"path": str(started)}})
        assert added.status_code == 201, added.text
        deadline = time.monotonic() + 60
        while not started.exists():
            assert time.monotonic() < deadline, "the server's scheduler never ran the task"
            time.sleep(0.05)
        stopping.start()
        stopping.join(timeout=30)
        assert not stopping.is_alive(), "the server is still shutting down after 30 s"
        deadline = time.monotonic() + 60
        while TaskManager().get_task("hung").status != "interrupted":
            assert time.monotonic() < deadline, TaskManager().get_task("hung")
            time.sleep(0.05)
    finally:
        webfuncs.RELEASE.set()
        if stopping.ident is None:  # failed before stopping: stop now
            running.__exit__(None, None, None)
        else:
            stopping.join(timeout=30)
