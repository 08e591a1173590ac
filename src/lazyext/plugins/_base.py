"""``Plugin``: the optional base class of a plugin's entry object.

Nothing requires it: any class (or module, or object) with ``on_enable`` and
``on_disable`` works. It exists for plugins written against the seed design, whose
``run.py`` reads ``class Plugin(Plugin)``: importing this ``Plugin`` is the one line
such a plugin changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any


class Plugin:
    """Base of a plugin's entry class: no-op hooks and the plugin's ``arguments``.

    lazyext constructs the entry class with the plugin's ``arguments`` (from
    ``[plugins.arguments.<id>]``, an ``[[extensions]]`` entry of the plugin's id, or
    ``PluginManager(arguments=...)``), a read-only mapping kept as ``self.arguments``.
    """

    arguments: Mapping[str, Any]

    def __init__(self, arguments: Mapping[str, Any] | None = None) -> None:
        self.arguments = MappingProxyType(dict(arguments or {}))

    def on_enable(self) -> None:
        """Called when the plugin is enabled in this process (after its import)."""

    def on_disable(self) -> None:
        """Called when the plugin is disabled, reloaded away or uninstalled."""

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__}>"
