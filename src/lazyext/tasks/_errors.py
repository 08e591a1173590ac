"""Errors of the task manager; APScheduler's own errors never reach callers.

::

    LazyextError
    ├── ConfigError (ValueError)              bad trigger arguments, a function path that
    │                                         does not import, a bad [maintenance] table
    └── TaskError
        ├── TaskNotFoundError (KeyError)      no task with that id
        ├── TaskExistsError (ValueError)      the id is taken (pass replace_existing=True)
        └── SchedulerStateError (RuntimeError)
                                              start() twice, or the manager was shut down
"""

from __future__ import annotations

from typing import Any

from lazyext._errors import LazyextError, _rebuild


class TaskError(LazyextError):
    """Base of the task manager's own errors."""

    def __init__(self, message: str, *, task_id: str = "") -> None:
        super().__init__(message)
        self.task_id = task_id

    def __str__(self) -> str:
        # KeyError's str() would quote the message; say it plainly.
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__))


class TaskNotFoundError(TaskError, KeyError):
    """No task has this id (also a :class:`KeyError`)."""


class TaskExistsError(TaskError, ValueError):
    """A task with this id exists already."""


class SchedulerStateError(TaskError, RuntimeError):
    """The manager is not in a state that allows this call."""
