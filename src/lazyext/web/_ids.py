"""Ids from URLs, checked before they reach the filesystem or SQL.

A plugin id, task id or extension name in a path is checked for its form (length,
characters) first; one that cannot name anything is a 404, like an unknown one. A
plugin id is also looked up before any operation that takes the plugin's lock,
so a request for an unknown plugin creates no lock file (or any file).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from lazyext.plugins import PluginManager
from lazyext.plugins._errors import ManifestError, PluginNotFound
from lazyext.plugins._manifest import check_id
from lazyext.web._errors import problem, translated
from lazyext.web.models import TASK_ID_PATTERN

_TASK_ID: Final = re.compile(TASK_ID_PATTERN)
_NAME: Final = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


def _checked(value: str, form: re.Pattern[str], error: str, what: str, listing: str) -> str:
    if not form.match(value):
        raise problem(404, error, f"no {what} {value[:200]!r}: not a valid {what}", listing)
    return value


def task_id(task_id: str) -> str:
    """A dependency: the ``task_id`` of the path, or a 404."""
    return _checked(
        task_id, _TASK_ID, "TaskNotFoundError", "task id", "list the tasks with GET /tasks"
    )


def extension_name(name: str) -> str:
    """A dependency: the extension ``name`` of the path, or a 404."""
    return _checked(
        name,
        _NAME,
        "ExtensionNotFound",
        "extension name",
        "list the extensions with GET /extensions",
    )


def known_plugin(manager: PluginManager) -> Callable[[str], str]:
    """A dependency: the ``plugin_id`` of the path if such a plugin is installed."""

    def plugin_id(plugin_id: str) -> str:
        with translated():
            try:
                check_id(plugin_id)
            except ManifestError:
                raise PluginNotFound(
                    f"no plugin {plugin_id[:200]!r}: not a valid plugin id", plugin_id=""
                ) from None
            manager.info(plugin_id)  # PluginNotFound
        return plugin_id

    return plugin_id
