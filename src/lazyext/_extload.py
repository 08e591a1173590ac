"""``Extension.load()``: import one configured extension's module and return it.

Installing is the import's business: lazyext's finder owns the modules of every
enabled extension of the active config, and the first import of one installs it (a
cache miss) before the module is returned. A built-in extension (no ``package``)
names a module the host serves, imported as any other. This module sits at the bottom
with the config records (it imports no other part of lazyext), so that
:class:`~lazyext.Extension` can delegate to it; :func:`lazyext.extensions` (in
:mod:`lazyext._processors`) makes sure a config is active.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType
    from typing import Protocol

    class Declared(Protocol):
        """What :func:`load_extension` reads of an :class:`~lazyext.Extension`."""

        @property
        def name(self) -> str: ...
        @property
        def package(self) -> str | None: ...
        @property
        def modules(self) -> Sequence[str]: ...
        @property
        def enabled(self) -> bool: ...


def load_extension(extension: Declared) -> ModuleType:
    """Import ``extension``'s first module (installing it on a cache miss), return it.

    Raises :class:`lazyext.ConfigError` for a disabled extension, and what the import
    raises otherwise (:class:`lazyext.InstallError` if installing failed; a
    ``ModuleNotFoundError`` with a note saying what to do if nothing serves it)."""
    if not extension.enabled:
        # The errors module (~0.4 ms) loads when an error does: B1 never meets one.
        from lazyext._errors import ConfigError

        raise ConfigError(
            f"extension {extension.name!r} is disabled (enabled = false); enable it in the "
            "config to load it"
        )
    # `import lazyext` alone does not import importlib (+ warnings: ~1 ms); activate does.
    import importlib

    module = extension.modules[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != module:
            raise
        if extension.package is None:
            error.add_note(
                f"lazyext: {extension.name!r} is a built-in extension (no package): the host "
                f"environment must provide the module {module!r}"
            )
        else:
            error.add_note(
                f"lazyext: importing {module!r} installs {extension.package} only while a "
                f"config that declares {extension.name!r} is active (lazyext.activate(...); "
                "lazyext.extensions() activates the discovered config)"
            )
        raise
