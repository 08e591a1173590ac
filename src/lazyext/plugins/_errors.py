"""Errors of the plugin lifecycle.

Every one is a :class:`lazyext.LazyextError`; each also subclasses the builtin it
means::

    LazyextError
    └── PluginError(LazyextError, RuntimeError)       .plugin_id
        ├── ManifestError(PluginError, ConfigError)   bad structure, manifest or
        │   │                                         dependency; nothing was written
        │   └── UnsafeArchiveError(ManifestError)     a zip or folder that could write
        │                                             outside its directory, or is too big
        ├── PluginNotFound(PluginError, LookupError)  no plugin (or snapshot) of that id
        ├── PluginEnableError(PluginError)            import or on_enable failed; the plugin
        │                                             is disabled, ``.error`` says why
        └── RestartRequired(PluginError)              a loaded C extension cannot be reloaded

``ManifestError`` is also a :class:`lazyext.ConfigError`, so the CLI exits with 2 (bad
input) for it and 1 for the others. Errors pickle with their attributes.
"""

from __future__ import annotations

from typing import Any

from lazyext._errors import ConfigError, LazyextError


class PluginError(LazyextError, RuntimeError):
    """Base class of the plugin errors; ``plugin_id`` names the plugin ('' if unknown)."""

    def __init__(self, message: str, *, plugin_id: str = "") -> None:
        super().__init__(message)
        self.plugin_id = plugin_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__))


class ManifestError(PluginError, ConfigError):
    """The plugin's structure, manifest or dependencies are invalid.

    ``problems`` lists every problem found; ``source`` names the folder, zip or
    requirement. Raised before anything is copied or installed.
    """

    def __init__(
        self,
        message: str,
        *,
        plugin_id: str = "",
        problems: tuple[str, ...] = (),
        source: str = "",
    ) -> None:
        PluginError.__init__(self, message, plugin_id=plugin_id)
        self.problems = problems or (message,)
        self.source = source


class UnsafeArchiveError(ManifestError):
    """A zip entry or folder member that is unsafe: ``member`` names it."""

    def __init__(self, message: str, *, member: str = "", source: str = "") -> None:
        super().__init__(message, source=source)
        self.member = member


class PluginNotFound(PluginError, LookupError):
    """No installed plugin (or no snapshot) with that id."""


class PluginEnableError(PluginError):
    """Importing the plugin or its ``on_enable`` failed; it stays disabled.

    ``error`` is the one-line description also stored as the plugin's ``last_error``;
    ``previous_kept`` is true when a reload or upgrade failed and the version that ran
    before keeps running.
    """

    def __init__(
        self, message: str, *, plugin_id: str = "", error: str = "", previous_kept: bool = False
    ) -> None:
        super().__init__(message, plugin_id=plugin_id)
        self.error = error or message
        self.previous_kept = previous_kept


class RestartRequired(PluginError):
    """The plugin ships a C extension that is loaded: only a new process reloads it."""


def _rebuild(cls: type[PluginError], args: tuple[Any, ...], state: dict[str, Any]) -> PluginError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error
