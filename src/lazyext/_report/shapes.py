"""The JSON shapes of the command line: one per kind of result, owned here.

Every command that reports on extensions prints one *report*::

    {"command": "status", "ok": true, "config": "/app/lazyext.toml",
     "cache_dir": "...", "platform": "cp311-...", "python": "/usr/bin/python3",
     "extensions": [<extension result>, ...], "seconds": 0.12}

(``doctor`` adds ``"setup"``; ``status`` adds ``"environment"``, the resolved
environment's state and lock, and ``"distributions"``, one row per locked distribution:
``{"name", "version", "locked", "state", "path", "key", "pulled_in_by"}``, ``version``
the one a process imports, ``locked`` the environment's.) Each *extension
result* has the same keys whatever the command (``status``, ``warm``, ``verify``,
``invalidate``, ``refresh``, ``health``, ``doctor``); a command fills the ones it knows::

    {"name", "requirement", "ok", "state", "version", "path", "size", "installed_at",
     "modules", "enabled", "key", "detail", "problems", "failure", "diagnosis",
     "distributions"}

A command that fails before it has results prints an *error* with ``--json``::

    {"ok": false, "error": {"type": "ConfigError", "message": "...", "problems": [...]},
     "exit": 2}

Tasks, task runs and plugins have their own shapes (``Task.as_dict()``,
``TaskRun.as_dict()``, ``PluginInfo.as_dict()``); listings of them are
``{"tasks": [...]}`` and ``[...]`` as documented in the README.
"""

from __future__ import annotations

import sys
from typing import Any

EXTENSION_KEYS = (
    "name",
    "requirement",
    "ok",
    "state",
    "version",
    "path",
    "size",
    "installed_at",
    "modules",
    "enabled",
    "key",
    "detail",
    "problems",
    "failure",
    "diagnosis",
    "distributions",
)
REPORT_KEYS = ("command", "ok", "config", "cache_dir", "platform", "python", "extensions")


def extension(name: str, *, ok: bool, state: str, **fields: Any) -> dict[str, Any]:
    """An extension result: every key present, unknown ones refused."""
    unknown = set(fields) - set(EXTENSION_KEYS)
    if unknown:
        raise TypeError(f"not a key of an extension result: {sorted(unknown)}")
    result: dict[str, Any] = {
        "name": name,
        "requirement": "",
        "ok": ok,
        "state": state,
        "version": "",
        "path": "",
        "size": None,
        "installed_at": None,
        "modules": [],
        "enabled": True,
        "key": "",
        "detail": "",
        "problems": [],
        "failure": None,
        "diagnosis": None,
        "distributions": [],
    }
    result.update(fields)
    return result


def report(
    command: str, config: Any, results: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """The report of a command over extensions (``config`` a loaded Config or None)."""
    settings = getattr(config, "settings", None)
    return {
        "command": command,
        "ok": all(result["ok"] for result in results),
        "config": getattr(config, "source", None),
        "cache_dir": getattr(settings, "cache_dir", None),
        "platform": getattr(config, "platform", None),
        "python": sys.executable,
        "extensions": results,
        **extra,
    }


def error(error: BaseException, exit_code: int) -> dict[str, Any]:
    from lazyext._settings.secrets import redact

    problems = list(getattr(error, "problems", ()) or ())
    return {
        "ok": False,
        "error": {
            "type": type(error).__name__,
            "message": redact(str(error)),
            "problems": [redact(str(problem)) for problem in problems],
        },
        "exit": exit_code,
    }
