"""The JSON shapes of the command line: one per kind of result, owned here.

Every document has ``ok`` (true exactly when the exit code is 0) and ``command``
(``"status"``, ``"plugins enable"``); a failure adds ``error`` and ``exit`` (the
command line writes these, :mod:`lazyext.cli.output`). Every command that reports on
extensions prints one *report*::

    {"command": "status", "ok": true, "config": "/app/lazyext.toml",
     "cache_dir": "...", "platform": "cp311-...", "python": "/usr/bin/python3",
     "extensions": [<extension result>, ...], "seconds": 0.12}

(``doctor`` adds ``"setup"``; ``status`` adds ``"environment"``, the resolved
environment's state and lock, and ``"distributions"``, one row per locked distribution:
``{"name", "version", "locked", "state", "path", "key", "pulled_in_by"}``, ``version``
the one a process imports, ``locked`` the environment's.) Each *extension
result* has the same keys whatever the command (``status``, ``warm``, ``verify``,
``invalidate``, ``refresh``, ``health``, ``doctor``); a command fills the ones it knows,
and its own ``ok`` says whether that extension is fine::

    {"name", "requirement", "ok", "state", "version", "path", "size", "installed_at",
     "modules", "enabled", "key", "detail", "problems", "failure", "diagnosis",
     "distributions"}

A failed command's ``error`` is ``{"type", "message", "problems"}``; one that fails
before it has results (an unknown name, a bad config, a usage error) prints only that::

    {"ok": false, "command": "warm", "exit": 2,
     "error": {"type": "ConfigError", "message": "...", "problems": [...]}}

Other results are kept under a key of their own: ``{"task": ...}``, ``{"run": ...}``,
``{"tasks": [...]}``, ``{"plugin": ...}``, ``{"plugins": [...]}``, ``{"snapshot": ...}``
(``Task.as_dict()``, ``TaskRun.as_dict()``, ``PluginInfo.as_dict()``, ...).
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

    message = redact(str(error))
    problems = [redact(str(problem)) for problem in getattr(error, "problems", ()) or ()]
    return {
        "ok": False,
        "error": {
            "type": type(error).__name__,
            "message": message,
            "problems": problems or [message],
        },
        "exit": exit_code,
    }


def rows_error(rows: list[dict[str, Any]], happened: str = "failed") -> dict[str, Any]:
    """The ``error`` of a command whose results are not all ok: ``"1 of 3 extensions
    failed: missing"``, each failed one's detail as a problem, typed by the first
    failure (an exception's class name)."""
    bad = [row for row in rows if not row["ok"]]
    kind = next((row["failure"]["type"] for row in bad if row.get("failure")), "Failed")
    names = ", ".join(row["name"] for row in bad)
    return {
        "type": kind,
        "message": f"{len(bad)} of {len(rows)} extensions {happened}: {names}",
        "problems": [
            f"{row['name']}: {'; '.join(row['problems']) or row['detail']}".rstrip(": ")
            for row in bad
        ],
    }
