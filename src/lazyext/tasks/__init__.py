"""The task manager: scheduled functions and the cache's own maintenance.

``TaskManager`` runs functions on ``interval``, ``cron`` and ``date`` triggers over
APScheduler 3 (imported when a manager is used, never by ``import lazyext``). Tasks
given as ``"module:function"`` are stored in lazyext's state database and survive
restarts; processes sharing a data directory elect one of them to run the stored
tasks, the maintenance tasks among them (refresh, gc, warm, health). Functions marked
with :func:`task` in the modules of ``[tasks] directory`` are stored at ``start()``.
"""

from __future__ import annotations

from lazyext.tasks._declared import task
from lazyext.tasks._errors import (
    SchedulerStateError,
    TaskError,
    TaskExistsError,
    TaskNotFoundError,
)
from lazyext.tasks._manager import TaskManager
from lazyext.tasks._runner import Clock
from lazyext.tasks._spec import Task, TaskRun

__all__ = [
    "Clock",
    "SchedulerStateError",
    "Task",
    "TaskError",
    "TaskExistsError",
    "TaskManager",
    "TaskNotFoundError",
    "TaskRun",
    "task",
]
