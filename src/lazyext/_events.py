"""Notifications from the core to whoever listens: "an extension was installed".

The core's install path calls :func:`extension_installed` once it has published a new
install; each :class:`lazyext.PluginManager` listens and calls its
``lazyext_extension_installed`` hook. This module imports only :mod:`lazyext._log`
(not :mod:`threading`, not :mod:`typing`), so the core can import it anywhere, and it
knows nothing of plugins or pluggy: with no listener, a notification costs one check.
"""

from __future__ import annotations

import _thread

from lazyext import _log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    Listener = Callable[..., object]

_listeners: tuple[Listener, ...] = ()
_lock = _thread.allocate_lock()


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call ``listener(name=, requirement=, paths=, module=)`` after each install;
    returns the undo."""
    global _listeners
    with _lock:
        _listeners = (*_listeners, listener)

    def undo() -> None:
        global _listeners
        with _lock:
            _listeners = tuple(f for f in _listeners if f is not listener)

    return undo


def extension_installed(
    name: str, requirement: str, paths: Sequence[str], module: str | None = None
) -> None:
    """Tell the listeners that ``requirement`` (the extension ``name``) was installed
    into ``paths`` for the import of ``module`` (``None``: not for an import).

    A listener that raises is logged and skipped: an install never fails for it."""
    listeners = _listeners
    if not listeners:
        return
    for listener in listeners:
        try:
            listener(name=name, requirement=requirement, paths=tuple(paths), module=module)
        except Exception as error:
            _log.warning("an extension_installed listener raised %r", error)
