"""lazyext: import extensions that are not installed yet.

Declare which import names belong to which requirement, call :func:`activate`, and
the first ``import`` of such a name installs the requirement with uv into a private,
content-addressed cache and returns the module; later processes find it cached.
"""

from __future__ import annotations

from lazyext._api import activate, deactivate, extension, extensions
from lazyext._settings.config import Config, Extension

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lazyext._errors import (
        ConfigError,
        DistributionNotFound,
        InstallError,
        LazyextError,
        LockFileError,
        LockTimeout,
        ResolutionError,
        UnsafeCacheError,
    )
    from lazyext._errors import ConfigError as ExtensionConfigError
    from lazyext._errors import InstallError as ExtensionInstallationError
    from lazyext._use import ensure, ensure_async, invalidate, warm
    from lazyext._version import __version__ as __version__
    from lazyext.plugins import PluginManager
    from lazyext.tasks import TaskManager


__all__ = [
    "Config",
    "ConfigError",
    "DistributionNotFound",
    "Extension",
    "ExtensionConfigError",
    "ExtensionInstallationError",
    "InstallError",
    "LazyextError",
    "LockFileError",
    "LockTimeout",
    "PluginManager",
    "ResolutionError",
    "TaskManager",
    "UnsafeCacheError",
    "activate",
    "deactivate",
    "ensure",
    "ensure_async",
    "extension",
    "extensions",
    "invalidate",
    "warm",
]

# Parts load on first use only: `import lazyext` must stay light (benchmark B1). The
# functions that install bring the stages that resolve and install; the error classes
# too: a process that never meets an error never creates them.
_LAZY = {
    "__version__": "lazyext._version",
    "PluginManager": "lazyext.plugins",
    "TaskManager": "lazyext.tasks",
    "ensure": "lazyext._use",
    "ensure_async": "lazyext._use",
    "invalidate": "lazyext._use",
    "warm": "lazyext._use",
}
#: The seed design's names (``xtnsmgr``) are the same classes.
_ERRORS = {
    "ConfigError": "ConfigError",
    "DistributionNotFound": "DistributionNotFound",
    "InstallError": "InstallError",
    "LazyextError": "LazyextError",
    "LockFileError": "LockFileError",
    "LockTimeout": "LockTimeout",
    "ResolutionError": "ResolutionError",
    "UnsafeCacheError": "UnsafeCacheError",
    "ExtensionConfigError": "ConfigError",
    "ExtensionInstallationError": "InstallError",
}


if not TYPE_CHECKING:  # type checkers see the names imported above, and no others

    def __getattr__(name: str) -> Any:
        error = _ERRORS.get(name)
        if error is not None:
            from lazyext import _errors

            return getattr(_errors, error)
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'lazyext' has no attribute {name!r}")
        import importlib

        return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
