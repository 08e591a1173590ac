"""``/tasks``: stored tasks of the scheduler (see :class:`lazyext.TaskManager`).

Tasks made here are stored ones (``"module:function"``, importable by the server),
shared with every process on the data directory; runs started with ``POST
/tasks/{id}/run`` happen in the server process and the call waits for the outcome.
A task sent without an ``id`` gets a new one: two tasks of one function are two tasks.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from lazyext.tasks import Task, TaskExistsError, TaskManager, TaskNotFoundError
from lazyext.tasks._spec import normalize_trigger
from lazyext.web import _ids
from lazyext.web._errors import problem, translated
from lazyext.web._service import Service
from lazyext.web.models import (
    TaskCreate,
    TaskDefinition,
    TaskOut,
    TaskReplace,
    TaskRunOut,
    TaskUpdate,
)

_TAGS: list[str | Any] = ["tasks"]
TaskId = Annotated[str, Depends(_ids.task_id)]


def task_out(task: Task) -> TaskOut:
    return TaskOut.model_validate(task.as_dict())


def _options(body: TaskDefinition) -> dict[str, Any]:
    # Checked first: a trigger argument named like an add_task option ("timeout") would
    # otherwise reach add_task twice.
    normalize_trigger(body.trigger, body.trigger_args)
    return {
        "max_retries": body.max_retries,
        "timeout": body.timeout,
        "kwargs": body.kwargs,
        **body.trigger_args,
    }


def _changeable(tasks: TaskManager, task_id: str) -> Task:
    current = tasks.get_task(task_id)
    _refuse_builtin(current)
    return current


def _refuse_builtin(current: Task) -> None:
    if current.builtin:
        raise problem(
            409,
            "BuiltinTask",
            f"{current.id!r} is a built-in maintenance task",
            "change it through the [maintenance] table of the config",
        )


def _create(tasks: TaskManager, body: TaskCreate) -> Task:
    task_id = body.id or uuid.uuid4().hex
    if body.replace_existing:
        try:
            _refuse_builtin(tasks.get_task(task_id))
        except TaskNotFoundError:
            pass
    try:
        return tasks.add_task(
            body.func,
            body.trigger,
            id=task_id,
            name=body.name or (body.func if body.id is None else None),
            replace_existing=body.replace_existing,
            **_options(body),
        )
    except TaskExistsError as error:
        # The manager's advice (replace_existing=True) is a keyword argument: name the field.
        raise TaskExistsError(
            f"a task with id {task_id!r} exists already: send another 'id' (or none, for a "
            "new one), or 'replace_existing': true to replace its definition (its run "
            "history stays)",
            task_id=task_id,
        ) from error


def _merged(current: Task, body: TaskUpdate) -> TaskReplace:
    """``current`` with the fields ``body`` sets: a full definition."""
    given = body.model_fields_set
    if body.trigger not in (None, current.trigger) and body.trigger_args is None:
        raise problem(
            422,
            "TriggerArgsMissing",
            f"a new trigger ({body.trigger}) needs its trigger_args",
            "send trigger_args with the new trigger",
        )
    # Not validated again: the body was, and the rest is the stored task's.
    return TaskReplace.model_construct(
        func=body.func or current.func,
        trigger=body.trigger or current.trigger,
        trigger_args=dict(current.trigger_args if body.trigger_args is None else body.trigger_args),
        name=body.name or current.name,
        max_retries=current.max_retries if body.max_retries is None else body.max_retries,
        timeout=body.timeout if "timeout" in given else current.timeout,
        kwargs=dict(current.kwargs if body.kwargs is None else body.kwargs),
        enabled=body.enabled,
    )


def _replace(tasks: TaskManager, task_id: str, current: Task, body: TaskReplace) -> TaskOut:
    options = _options(body)
    task = tasks.add_task(
        body.func,
        body.trigger,
        id=task_id,
        name=body.name or current.name,
        replace_existing=True,
        **options,
    )
    enabled = current.enabled if body.enabled is None else body.enabled
    if task.enabled != enabled:
        task = tasks.resume_task(task_id) if enabled else tasks.pause_task(task_id)
    return task_out(task)


def add_routes(api: APIRouter, service: Service) -> None:
    tasks: TaskManager = service.tasks

    @api.get("/tasks", tags=_TAGS, summary="Every task")
    def list_tasks() -> list[TaskOut]:
        with translated():
            return [task_out(task) for task in tasks.list_tasks()]

    @api.post("/tasks", status_code=201, tags=_TAGS, summary="Add a stored task")
    def create_task(body: TaskCreate) -> TaskOut:
        """Without an ``id`` the task gets a new one, and its ``name`` defaults to the
        function. A taken ``id`` is a 409, unless ``replace_existing`` is true."""
        with translated():
            return task_out(_create(tasks, body))

    @api.get("/tasks/{task_id}", tags=_TAGS, summary="One task")
    def get_task(task_id: TaskId) -> TaskOut:
        with translated():
            return task_out(tasks.get_task(task_id))

    @api.put("/tasks/{task_id}", tags=_TAGS, summary="Replace a task's definition")
    def replace_task(task_id: TaskId, body: TaskReplace) -> TaskOut:
        """The new definition takes effect at once; the run history stays. ``name``
        and ``enabled`` keep their values when left out."""
        with translated():
            return _replace(tasks, task_id, _changeable(tasks, task_id), body)

    @api.patch("/tasks/{task_id}", tags=_TAGS, summary="Change some of a task's fields")
    def update_task(task_id: TaskId, body: TaskUpdate) -> TaskOut:
        """Only the fields sent change (``name``, ``enabled``, ``trigger`` with its
        ``trigger_args``, ``func``, ``kwargs``, ``max_retries``, ``timeout``); the
        run history stays."""
        with translated():
            current = _changeable(tasks, task_id)
            return _replace(tasks, task_id, current, _merged(current, body))

    @api.delete("/tasks/{task_id}", status_code=204, tags=_TAGS, summary="Remove a task")
    def delete_task(task_id: TaskId) -> None:
        with translated():
            tasks.remove_task(task_id)

    @api.post("/tasks/{task_id}/run", tags=_TAGS, summary="Run a task now, here")
    def run_task(task_id: TaskId) -> TaskRunOut:
        """Runs with the task's retries and timeout and answers with the outcome (a
        failed run is a 200 whose ``status`` says ``failed``)."""
        with translated():
            run = tasks.run_task(task_id)
            assert run is not None  # wait=True always returns the run
            return TaskRunOut.model_validate(run.as_dict())

    @api.post("/tasks/{task_id}/pause", tags=_TAGS, summary="Stop running a task")
    def pause_task(task_id: TaskId) -> TaskOut:
        with translated():
            return task_out(tasks.pause_task(task_id))

    @api.post("/tasks/{task_id}/resume", tags=_TAGS, summary="Run a paused task again")
    def resume_task(task_id: TaskId) -> TaskOut:
        with translated():
            return task_out(tasks.resume_task(task_id))

    @api.get("/tasks/{task_id}/runs", tags=_TAGS, summary="A task's latest runs, oldest first")
    def task_runs(
        task_id: TaskId, limit: Annotated[int, Query(ge=1, le=50)] = 50
    ) -> list[TaskRunOut]:
        with translated():
            return [TaskRunOut.model_validate(r.as_dict()) for r in tasks.task_runs(task_id, limit)]
