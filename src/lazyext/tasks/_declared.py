"""Tasks declared in code: ``@lazyext.tasks.task(...)`` and ``[tasks] directory``.

```toml
[tasks]
directory = "jobs"       # relative to this file; every jobs/*.py is a module of tasks
```

```python
# jobs/cleanup.py
from lazyext.tasks import task

@task("interval", minutes=30, id="cleanup_task")
def cleanup() -> None: ...
```

At :meth:`TaskManager.start` the directory is appended to ``sys.path`` (after the
host's own entries: a module there never hides an installed one, and one that would
be hidden is refused), each ``*.py`` not starting with ``_`` is imported, and every
function of it marked with :func:`task` is stored as the task ``"<module>:<function>"``.
A definition that changed in the code replaces the stored one (its history is kept);
an unchanged one is left alone, so restarts do not disturb the schedule. Removing a
decorator does not remove the stored task: ``lazyext tasks remove ID`` does. Whoever
can write to the directory chooses what runs: it passes :mod:`lazyext._trust`'s rule,
and its modules must be this user's (or root's) and writable by no one else.
"""

from __future__ import annotations

import importlib
import os
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

from lazyext._errors import ConfigError

if TYPE_CHECKING:
    from lazyext._settings.config import Config
    from lazyext.tasks._manager import TaskManager
    from lazyext.tasks._spec import Task

_MARK: Final = "__lazyext_task__"
F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True, slots=True)
class Declaration:
    trigger: str
    trigger_args: Mapping[str, Any]
    id: str | None = None
    name: str | None = None
    max_retries: int = 3
    timeout: float | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def task(
    trigger: str = "interval",
    *,
    id: str | None = None,
    name: str | None = None,
    max_retries: int = 3,
    timeout: float | None = None,
    kwargs: Mapping[str, Any] | None = None,
    **trigger_args: Any,
) -> Callable[[F], F]:
    """Declare a module-level function a task of a ``[tasks] directory`` module.

    The arguments are :meth:`TaskManager.add_task`'s; the function is returned
    unchanged (decorating runs nothing and schedules nothing by itself)."""

    def mark(func: F) -> F:
        declared = Declaration(
            trigger, dict(trigger_args), id, name, max_retries, timeout, dict(kwargs or {})
        )
        setattr(func, _MARK, declared)
        return func

    return mark


def directory_of(config: Config) -> str | None:
    """``[tasks] directory`` of ``config``, absolute (``None`` if not set)."""
    table = dict(config.tables.get("tasks", {}))
    unknown = sorted(set(table) - {"directory"})
    value = table.get("directory")
    if unknown or (value is not None and not isinstance(value, str)):
        problem = f"unknown key(s) {', '.join(unknown)}" if unknown else "directory: a string"
        raise ConfigError(f"{config.source}: [tasks] {problem} (known: directory)")
    if value is None:
        return None
    path = os.path.expanduser(value)
    if not os.path.isabs(path):
        source = config.source
        path = os.path.join(os.path.dirname(source) if source.endswith(".toml") else ".", path)
    return os.path.realpath(path)


def register_directory(manager: TaskManager, directory: str) -> list[Task]:
    """Import the directory's modules and store their declared tasks; return them."""
    modules = _modules(directory)
    if directory not in sys.path:
        sys.path.append(directory)
    importlib.invalidate_caches()
    registered = []
    for stem in modules:
        module = importlib.import_module(stem)
        where = os.path.dirname(os.path.realpath(getattr(module, "__file__", None) or "/"))
        if where != directory:
            raise ConfigError(
                f"{directory}/{stem}.py is hidden by the module {stem!r} at "
                f"{getattr(module, '__file__', None) or 'a built-in location'}; rename it",
                source=directory,
            )
        for function in list(vars(module).values()):
            declared = getattr(function, _MARK, None)
            if isinstance(declared, Declaration) and getattr(function, "__module__", "") == stem:
                registered.append(_store(manager, f"{stem}:{function.__qualname__}", declared))
    return registered


def _modules(directory: str) -> list[str]:
    try:
        names = sorted(os.listdir(directory))
    except OSError as error:
        raise ConfigError(
            f"[tasks] directory {directory!r}: {error.strerror or error}", source=directory
        ) from error
    from lazyext import _trust

    _trust.check_dir(directory, what="[tasks] directory", root_owned_ok=True)
    stems = [n[:-3] for n in names if n.endswith(".py") and not n.startswith(("_", "."))]
    problems = [_unsafe(os.path.join(directory, f"{stem}.py")) for stem in stems]
    problems += [f"{stem}.py: not a module name" for stem in stems if not stem.isidentifier()]
    found = [problem for problem in problems if problem]
    if found:
        raise ConfigError(
            f"[tasks] directory {directory!r}: " + "; ".join(found)
            + " (whoever can write there chooses what runs: chmod go-w, or chown)",
            problems=tuple(found),
            source=directory,
        )  # fmt: skip
    return stems


def _unsafe(path: str) -> str:
    if not hasattr(os, "geteuid"):
        return ""
    info = os.stat(path)
    if info.st_uid not in (os.geteuid(), 0):
        return f"{path} is owned by uid {info.st_uid}"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by its group or others"
    return ""


def _store(manager: TaskManager, path: str, declared: Declaration) -> Task:
    from lazyext.tasks._spec import normalize_trigger

    task_id = declared.id or path
    existing = next((t for t in manager.list_tasks() if t.id == task_id), None)
    wanted = (
        path,
        declared.trigger,
        normalize_trigger(declared.trigger, declared.trigger_args),
        dict(declared.kwargs),
        declared.max_retries,
        None if declared.timeout is None else float(declared.timeout),
        declared.name or task_id,
    )
    if existing is not None and existing.persistent:
        current = (
            existing.func,
            existing.trigger,
            dict(existing.trigger_args),
            dict(existing.kwargs),
            existing.max_retries,
            existing.timeout,
            existing.name,
        )
        if current == wanted:
            return existing
    return manager.add_task(
        path,
        declared.trigger,
        task_id,
        name=declared.name,
        max_retries=declared.max_retries,
        timeout=declared.timeout,
        kwargs=declared.kwargs,
        replace_existing=True,
        **declared.trigger_args,
    )
