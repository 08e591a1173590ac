"""What a task is: its record, its trigger and its function, validated.

Everything here fails with :class:`~lazyext.ConfigError` at ``add_task`` time: a
function path that does not import, an unknown trigger, trigger arguments APScheduler
would reject. Trigger arguments are stored as JSON, so datetimes become ISO strings
(APScheduler's triggers accept those back).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from lazyext._errors import ConfigError
from lazyext._record import EMPTY, record
from lazyext._settings.keys import MAX_NAME, check_text

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger  # type: ignore[import-untyped]

#: The triggers and the arguments each accepts (APScheduler 3's names).
TRIGGER_ARGS: Final[Mapping[str, tuple[str, ...]]] = {
    "interval": (
        "weeks",
        "days",
        "hours",
        "minutes",
        "seconds",
        "start_date",
        "end_date",
        "timezone",
        "jitter",
    ),
    "cron": (
        "year",
        "month",
        "day",
        "week",
        "day_of_week",
        "hour",
        "minute",
        "second",
        "start_date",
        "end_date",
        "timezone",
        "jitter",
    ),
    "date": ("run_date", "timezone"),
}


@record
class Task:
    """A task as lazyext knows it (what ``get_task``/``list_tasks`` return).

    ``func`` is ``"module:function"`` for stored tasks (``persistent``), a description
    of the callable for in-memory ones. Times are POSIX timestamps. ``status`` is the
    outcome of the latest run: ``new``, ``running``, ``ok``, ``failed``, ``timed_out``,
    ``skipped`` (the previous run was still going), ``missed`` (too late to run) or
    ``interrupted`` (the manager shut down mid-run).
    """

    id: str
    name: str
    func: str
    trigger: str
    trigger_args: Mapping[str, Any]
    kwargs: Mapping[str, Any] = EMPTY
    enabled: bool = True
    max_retries: int = 3
    timeout: float | None = None
    persistent: bool = True
    builtin: bool = False
    last_run: float | None = None
    next_run: float | None = None
    status: str = "new"
    last_error: str = ""
    run_count: int = 0
    revision: int = 0

    def describe_trigger(self) -> str:
        args = ", ".join(f"{key}={value}" for key, value in sorted(self.trigger_args.items()))
        return f"{self.trigger}[{args}]"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "func": self.func,
            "trigger": self.trigger,
            "trigger_args": dict(self.trigger_args),
            "kwargs": dict(self.kwargs),
            "enabled": self.enabled,
            "max_retries": self.max_retries,
            "timeout": self.timeout,
            "persistent": self.persistent,
            "builtin": self.builtin,
            "last_run": self.last_run,
            "next_run": self.next_run,
            "status": self.status,
            "last_error": self.last_error,
            "run_count": self.run_count,
        }


@record
class TaskRun:
    """One run of a task: its outcome, how many attempts it took, the last error."""

    task_id: str
    started: float
    finished: float
    status: str
    attempts: int = 1
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "started": self.started,
            "finished": self.finished,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
        }


def resolve(path: str) -> Callable[..., object]:
    """Import ``"package.module:function"`` (the attribute may be dotted)."""
    module_name, colon, attribute = path.partition(":")
    if not colon or not module_name or not attribute:
        raise ConfigError(
            f"task function {path!r} must be written 'package.module:function'", source=path
        )
    try:
        target: object = importlib.import_module(module_name)
    except Exception as error:
        raise ConfigError(
            f"task function {path!r}: cannot import {module_name!r} ({error}); is it on "
            "sys.path (PYTHONPATH) of every process that runs tasks?",
            source=path,
        ) from error
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError as error:
            raise ConfigError(
                f"task function {path!r}: {module_name!r} has no attribute {attribute!r}",
                source=path,
            ) from error
    if not callable(target):
        raise ConfigError(f"task function {path!r} is not callable", source=path)
    return target


def path_of(func: Callable[..., object]) -> str | None:
    """``"module:qualname"`` if that path imports back to ``func`` in another process."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<locals>" in qualname:
        return None
    path = f"{module}:{qualname}"
    try:
        return path if resolve(path) is func else None
    except ConfigError:
        return None


def describe_callable(func: Callable[..., object]) -> str:
    module = getattr(func, "__module__", None) or "?"
    return f"{module}.{getattr(func, '__qualname__', repr(func))} (in memory)"


def normalize_trigger(trigger: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``trigger`` and its arguments; return them JSON-ready."""
    allowed = TRIGGER_ARGS.get(trigger)
    if allowed is None:
        raise ConfigError(
            f"unknown trigger {trigger!r}; use one of: {', '.join(TRIGGER_ARGS)}", source=trigger
        )
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{trigger} trigger: unknown argument(s) {', '.join(unknown)}; it accepts "
            f"{', '.join(allowed)}",
            source=trigger,
        )
    normalized = {key: _json_value(trigger, key, value) for key, value in args.items()}
    if trigger == "date" and normalized.get("run_date") is None:
        # Without a date APScheduler means "now": store that moment, or a restart would
        # run the task again.
        normalized["run_date"] = dt.datetime.now(dt.UTC).isoformat()
    if trigger == "interval":
        units = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
        seconds = 0.0
        for unit, factor in units.items():
            value = normalized.get(unit) or 0
            seconds += float(value) * factor if isinstance(value, int | float) else 1.0
        if seconds <= 0:
            raise ConfigError(
                "interval trigger: give a positive interval (weeks/days/hours/minutes/seconds)",
                source=trigger,
            )
    build_trigger(trigger, normalized)
    return normalized


def _json_value(trigger: str, key: str, value: object) -> object:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bool) or not isinstance(value, int | float | str | type(None)):
        raise ConfigError(
            f"{trigger} trigger: {key}={value!r} is not a number, string or date",
            source=trigger,
        )
    return value


def build_trigger(trigger: str, args: Mapping[str, Any]) -> BaseTrigger:
    """The APScheduler trigger for stored arguments (``ConfigError`` if it rejects them)."""
    from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
    from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]
    from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

    classes = {"interval": IntervalTrigger, "cron": CronTrigger, "date": DateTrigger}
    try:
        return classes[trigger](**args)
    except (TypeError, ValueError, LookupError) as error:
        raise ConfigError(f"{trigger} trigger: {error}", source=trigger) from error


def next_fire(trigger: str, args: Mapping[str, Any], now: float) -> float | None:
    """The trigger's first fire time after ``now`` (``None``: it never fires).

    A ``date`` that has passed fires once, at ``now``: that is when a scheduler runs it
    (a date trigger alone would answer its date, in the past)."""
    built = build_trigger(trigger, args)
    if trigger == "interval" and not args.get("start_date"):
        return now + float(built.interval_length)  # the trigger would count from real time
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    fire = built.get_next_fire_time(None, moment)
    if fire is None:
        return None
    return max(float(fire.timestamp()), now) if trigger == "date" else float(fire.timestamp())


def is_spent(task: Task) -> bool:
    """A one-off (``date``) task that has run: it never fires again."""
    return task.trigger == "date" and task.run_count > 0


def next_run_after(task: Task, now: float) -> float | None:
    """When ``task`` runs next if scheduled at ``now``: ``None`` once it is spent
    (a date trigger alone would answer its date again, now in the past)."""
    return None if is_spent(task) else next_fire(task.trigger, task.trigger_args, now)


def check_options(
    task_id: str,
    max_retries: int,
    timeout: float | None,
    kwargs: Mapping[str, Any] | None,
    *,
    stored: bool,
) -> None:
    """Validate the options of ``add_task`` other than the trigger."""
    problems = []
    if not task_id or task_id.startswith("lazyext:"):
        problems.append(f"task id {task_id!r} is empty or reserved (lazyext:...)")
    try:  # it reaches SQL, logs and lock names: bounded like every name (lazyext._settings.keys)
        check_text(task_id, "task id", MAX_NAME)
    except ConfigError as error:
        problems.append(str(error))
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        problems.append(f"max_retries must be a whole number >= 0, not {max_retries!r}")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        problems.append(f"timeout must be a positive number of seconds or None, not {timeout!r}")
    if kwargs is not None and stored:
        try:
            json.dumps(dict(kwargs))
        except (TypeError, ValueError) as error:
            problems.append(f"kwargs of a stored task must be JSON data ({error})")
    if problems:
        raise ConfigError("; ".join(problems), problems=tuple(problems), source=task_id)
