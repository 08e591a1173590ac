"""Issue 13, the HTTP side: the seed "manager" design's task routes and shapes.

The seed serves ``/manager/tasks`` with ``TaskCreate{name, func_path, trigger,
trigger_args, max_retries}`` and a partial ``TaskUpdate{name, enabled,
trigger_args}``; a plain extension's ``arguments`` are readable over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from webkit import plugin_files, zip_bytes

SEED_TASK = {
    "name": "Cleanup",
    "func_path": "webfuncs:tick",
    "trigger": "interval",
    "trigger_args": {"minutes": 30},
    "max_retries": 3,
}


def test_the_seed_task_routes_under_manager(serve: Callable[..., Any]) -> None:
    import webfuncs

    client = serve(prefix="/manager", scheduler=False)
    assert client.get("/tasks").status_code == 404  # only under the prefix
    assert client.get("/manager/tasks").json() == []

    created = client.post("/manager/tasks", json=SEED_TASK)
    assert created.status_code == 201, created.text
    task = created.json()
    assert (task["name"], task["func"]) == ("Cleanup", "webfuncs:tick")
    task_id = task["id"]
    read = client.get(f"/manager/tasks/{task_id}").json()
    assert {key: read[key] for key in ("id", "name", "status")} == {
        "id": task_id,
        "name": "Cleanup",
        "status": "new",
    }
    assert read["next_run"] is not None
    assert read["last_run"] is None

    # The seed's TaskUpdate: a partial update.
    patched = client.patch(
        f"/manager/tasks/{task_id}",
        json={"name": "Nightly", "enabled": False, "trigger_args": {"minutes": 5}},
    )
    assert patched.status_code == 200, patched.text
    after = patched.json()
    assert (after["name"], after["enabled"], after["trigger_args"]) == (
        "Nightly",
        False,
        {"minutes": 5},
    )
    assert (after["func"], after["trigger"], after["max_retries"]) == (
        "webfuncs:tick",
        "interval",
        3,
    )

    before = len(webfuncs.TICKS)
    run = client.post(f"/manager/tasks/{task_id}/run")
    assert run.json()["status"] == "ok", run.text
    assert len(webfuncs.TICKS) == before + 1
    assert client.post(f"/manager/tasks/{task_id}/resume").json()["enabled"]
    assert not client.post(f"/manager/tasks/{task_id}/pause").json()["enabled"]
    assert client.delete(f"/manager/tasks/{task_id}").status_code == 204
    assert client.get("/manager/tasks").json() == []
    assert client.get("/manager/healthz").json()["status"] == "ok"


def test_patch_changes_only_what_is_sent_and_put_still_replaces(
    serve: Callable[..., Any],
) -> None:
    client = serve(scheduler=False)
    body = {
        "id": "job",
        "func": "webfuncs:tick",
        "trigger_args": {"hours": 1},
        "kwargs": {"tag": "a"},
        "timeout": 30,
        "max_retries": 1,
    }
    assert client.post("/tasks", json=body).status_code == 201

    for change, expected in [
        ({"kwargs": {"tag": "b"}}, {"kwargs": {"tag": "b"}, "timeout": 30}),
        ({"max_retries": 0}, {"max_retries": 0, "kwargs": {"tag": "b"}}),
        ({"timeout": 5}, {"timeout": 5}),
        ({"timeout": None}, {"timeout": None, "max_retries": 0}),  # null removes it
        (
            {"trigger": "cron", "trigger_args": {"hour": 3}},
            {"trigger": "cron", "trigger_args": {"hour": 3}, "name": "job"},
        ),
        ({"func_path": "webfuncs:fail"}, {"func": "webfuncs:fail", "trigger": "cron"}),
        ({}, {"func": "webfuncs:fail", "enabled": True}),
    ]:
        answer = client.patch("/tasks/job", json=change)
        assert answer.status_code == 200, (change, answer.text)
        task = answer.json()
        assert {key: task[key] for key in expected} == expected, (change, task)

    # A new trigger without its arguments would mix two triggers' arguments.
    mixed = client.patch("/tasks/job", json={"trigger": "interval"})
    assert mixed.status_code == 422
    assert "trigger_args" in mixed.json()["detail"]["fix"]
    bad = client.patch("/tasks/job", json={"max_retries": -1})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "max_retries"]
    assert client.patch("/tasks/job", json={"every": 5}).status_code == 422
    assert client.get("/tasks/job").json()["trigger"] == "cron"  # the failures changed nothing

    # PUT is a full replacement: what is left out takes its default.
    replaced = client.put(
        "/tasks/job", json={"func": "webfuncs:tick", "trigger_args": {"hours": 2}}
    )
    assert replaced.status_code == 200, replaced.text
    task = replaced.json()
    assert (task["trigger"], task["kwargs"], task["timeout"], task["max_retries"]) == (
        "interval",
        {},
        None,
        3,
    )
    partial_put = client.put("/tasks/job", json={"name": "only a name"})
    assert partial_put.status_code == 422


def test_a_seed_task_without_an_id_gets_a_new_one(serve: Callable[..., Any]) -> None:
    # Issue 23: the id used to be the function path, so a second task of the same
    # function was a 409.
    client = serve(scheduler=False)
    first = client.post("/tasks", json=SEED_TASK)
    second = client.post("/tasks", json={**SEED_TASK, "name": "Cleanup again"})
    assert (first.status_code, second.status_code) == (201, 201), second.text
    ids = {first.json()["id"], second.json()["id"]}
    assert len(ids) == 2
    assert "webfuncs:tick" not in ids
    unnamed = {key: value for key, value in SEED_TASK.items() if key != "name"}
    third = client.post("/tasks", json=unnamed).json()
    assert third["id"] not in ids
    assert third["name"] == "webfuncs:tick"  # a new id names nothing: the function does
    assert sorted(task["id"] for task in client.get("/tasks").json()) == sorted([*ids, third["id"]])


def test_func_path_is_an_alias_of_func(serve: Callable[..., Any]) -> None:
    client = serve(scheduler=False)
    for both in (
        {**SEED_TASK, "func": "webfuncs:tick", "id": "same"},
        {**SEED_TASK, "func": "webfuncs:fail", "id": "differ"},
    ):
        refused = client.post("/tasks", json=both)
        assert refused.status_code == 422
        assert "not both" in refused.json()["detail"][0]["msg"]
    neither = {key: value for key, value in SEED_TASK.items() if key != "func_path"}
    missing = client.post("/tasks", json=neither)
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "func"]
    assert client.post("/tasks", json={**SEED_TASK, "id": "t"}).status_code == 201
    patch_both = client.patch("/tasks/t", json={"func": None, "func_path": "webfuncs:fail"})
    assert patch_both.status_code == 422
    assert client.get("/tasks/t").json()["func"] == "webfuncs:tick"
    # The document says the same: one of the two names.
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "func_path" in schemas["TaskCreate"]["properties"]
    assert schemas["TaskCreate"]["oneOf"] == [{"required": ["func"]}, {"required": ["func_path"]}]
    assert schemas["TaskUpdate"]["not"] == {"required": ["func", "func_path"]}


def test_the_prefix_setting_and_router_prefix(
    config_file: Path, serve: Callable[..., Any], tmp_path: Path
) -> None:
    from fastapi import FastAPI

    from lazyext.web import router

    with config_file.open("a", encoding="utf-8") as handle:
        handle.write('[web]\nprefix = "/manager"\n')
    client = serve(scheduler=False)  # lazyext serve builds its app the same way
    assert client.get("/manager/tasks").json() == []
    assert "/manager/tasks/{task_id}" in client.get("/openapi.json").json()["paths"]
    assert client.get("/tasks").status_code == 404
    # The plugins' routes follow the prefix too.
    data = zip_bytes(tmp_path / "p.zip", plugin_files("preplug"))
    files = {"file": ("p.zip", data)}
    upload = client.post("/manager/plugins/upload", files=files, params={"enable": 1})
    assert upload.status_code == 201, upload.text
    assert upload.json()["routes"] == "/manager/plugins/preplug/"
    assert client.get("/manager/plugins/preplug/hello").json()["hello"] == "world"
    assert "/manager/plugins/preplug/hello" in client.get("/openapi.json").json()["paths"]

    host = FastAPI()
    host.include_router(router(config_file, prefix="/v1", scheduler=False), prefix="/api")
    other = serve(host)
    assert other.get("/api/v1/tasks").json() == []
    assert other.get("/api/v1/healthz").json()["status"] == "ok"


@pytest.mark.parametrize("prefix", ["manager", "/a b", "/../x", "/x//y"])
def test_a_bad_prefix_is_a_config_error(config_file: Path, prefix: str) -> None:
    from lazyext import ConfigError
    from lazyext.web import create_app

    with pytest.raises(ConfigError, match="prefix"):
        create_app(config_file, prefix=prefix)


def test_a_plain_extension_s_arguments_are_served(
    config_file: Path, serve: Callable[..., Any]
) -> None:
    with config_file.open("a", encoding="utf-8") as handle:
        handle.write(
            "[extensions.arguments]\ntimeout = 30\n"  # tinyyaml's
            '[[extensions]]\nname = "sphinx"\n'  # a plain, built-in one
            '[extensions.arguments]\nindent = 2\nstyles = ["a", "b"]\n'
        )
    client = serve(scheduler=False)
    plain = client.get("/extensions/sphinx")
    assert plain.status_code == 200, plain.text
    assert plain.json()["arguments"] == {"indent": 2, "styles": ["a", "b"]}
    assert plain.json()["state"] == "built-in"
    packaged = client.get("/extensions/tinyyaml").json()
    assert (packaged["arguments"], packaged["state"]) == ({"timeout": 30}, "missing")
    unknown = client.get("/extensions/nope")
    assert unknown.status_code == 404
    assert unknown.json()["detail"]["error"] == "ExtensionNotFound"
