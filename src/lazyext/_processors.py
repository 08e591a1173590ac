"""Processor registration: the configured extensions, built-in and external alike.

The seed's loop (``xtnsmgr`` step 4, "Register All Processors")::

    for ext in lazyext.extensions():
        register(ext.name, ext.load(), ext.arguments)

:func:`extensions` yields the enabled extensions in config order; ``Extension.load()``
(:mod:`lazyext._extload`) imports each one's module, which installs an external one
on first use, and a built-in one (no ``package``) comes from the host.
"""

from __future__ import annotations

from lazyext import _api

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from lazyext._config import Extension


def extensions() -> Iterator[Extension]:
    """The enabled extensions of the active config, in config order.

    If lazyext is not active, the discovered config (``$LAZYEXT_CONFIG``,
    ``lazyext.toml``, ``[tool.lazyext]``) is activated first, as :func:`lazyext.ensure`
    does, so that each one's ``load()`` can install it."""
    config = _api.active_config() or _api._runtime_for_use().config
    enabled = tuple(plan.extension for plan in config.plans if plan.extension.enabled)
    return iter(enabled)
