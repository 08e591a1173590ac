"""lazyext's errors as HTTP errors: a status and a JSON body that says what to fix.

Every endpoint runs its work inside :func:`translated`, so the mapping holds in any
FastAPI application that includes the router (exception handlers belong to an app,
not to a router). The body is ``{"detail": {"error", "message", "problems", "fix",
...}}`` plus the error's own data (``plugin_id``, ``task_id``, ``member``, ...).
Request validation errors keep FastAPI's own 422 body (``loc``/``msg`` per field).

=====================================================  ======
``TaskNotFoundError``, ``PluginNotFound``               404
``TaskExistsError``, ``SchedulerStateError``,           409
``PluginEnableError``, ``RestartRequired``,
other ``PluginError`` (e.g. reloading a disabled one)
``ConfigError``, ``ManifestError``,                     422
``UnsafeArchiveError``, a failed install
``LockTimeout``, a transient install failure            503
any other ``LazyextError``                              500
=====================================================  ======
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from fastapi import HTTPException

from lazyext._errors import ConfigError, InstallError, LazyextError, LockTimeout
from lazyext.plugins._errors import (
    ManifestError,
    PluginEnableError,
    PluginError,
    PluginNotFound,
    RestartRequired,
    UnsafeArchiveError,
)
from lazyext.tasks._errors import SchedulerStateError, TaskExistsError, TaskNotFoundError

logger = logging.getLogger("lazyext.web")

#: First match wins: subclasses before their bases.
_TABLE: Final[tuple[tuple[type[LazyextError], int, str], ...]] = (
    (TaskNotFoundError, 404, "list the tasks with GET /tasks"),
    (
        PluginNotFound,
        404,
        "list the plugins with GET /plugins, a plugin's snapshots with GET /plugins/{id}/snapshots",
    ),
    (
        TaskExistsError,
        409,
        "send another 'id' (or none), 'replace_existing': true, or change that task with "
        "PUT /tasks/{id}",
    ),
    (SchedulerStateError, 409, "the task manager cannot do this now (see 'message')"),
    (
        UnsafeArchiveError,
        422,
        "rebuild the archive without the refused entry ('member'); nothing was written",
    ),
    (ManifestError, 422, "correct the problems listed; nothing was installed"),
    (
        PluginEnableError,
        409,
        "the plugin's own code failed (see 'message'): fix it and upload the new version",
    ),
    (RestartRequired, 409, "restart the server to run the new version of this plugin"),
    (PluginError, 409, "change the plugin's state first (see 'message')"),
    (ConfigError, 422, "correct the problems listed and send the request again"),
    (LockTimeout, 503, "another process is installing the same requirement: retry later"),
)
#: Attributes of lazyext's errors worth handing to a client.
_DATA: Final = ("plugin_id", "task_id", "member", "previous_kept", "spec", "returncode")


def status_of(error: LazyextError) -> tuple[int, str]:
    """The HTTP status of ``error`` and a hint for the client."""
    for kind, status, fix in _TABLE:
        if isinstance(error, kind):
            return status, fix
    if isinstance(error, InstallError):
        if error.transient:
            return 503, "the package index could not be reached: retry later"
        return 422, ("check the requirement and the index settings (uv's output is in 'message')")
    return 500, "a server-side problem: see the server's log"


def http_error(error: LazyextError) -> HTTPException:
    status, fix = status_of(error)
    if status >= 500:  # the client is told to see the server's log (500) or to retry
        failed = status == 500
        logger.log(
            logging.ERROR if failed else logging.WARNING,
            "answered %d: %s: %s",
            status,
            type(error).__name__,
            error,
            exc_info=error if failed else None,
        )
    problems = getattr(error, "problems", None) or (str(error),)
    detail: dict[str, Any] = {
        "error": type(error).__name__,
        "message": str(error),
        "problems": list(problems),
        "fix": fix,
    }
    for name in _DATA:
        value = getattr(error, name, None)
        if value not in (None, ""):
            detail[name] = value
    headers = {"Retry-After": "10"} if status == 503 else None
    return HTTPException(status, detail=detail, headers=headers)


def problem(status: int, error: str, message: str, fix: str) -> HTTPException:
    """An HTTP error of the web layer itself, in the same shape."""
    detail = {"error": error, "message": message, "problems": [message], "fix": fix}
    return HTTPException(status, detail=detail)


@contextmanager
def translated() -> Iterator[None]:
    """Turn a :class:`~lazyext.LazyextError` raised inside into its HTTP error."""
    try:
        yield
    except LazyextError as error:
        raise http_error(error) from error
