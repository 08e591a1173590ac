"""Modules imported before ``activate()``: they stay what they are, and that is said.

Loaded only when it happens.
"""

from __future__ import annotations

import logging
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _where(module: Any) -> str:
    """Where an already-imported module came from, in words."""
    file = getattr(module, "__file__", None)
    if file:
        return str(file)
    path = getattr(module, "__path__", None)
    if path is not None:
        return f"a namespace package in {', '.join(map(str, path)) or 'no directory'}"
    return "a built-in location"


def warn_already_imported(names: list[str]) -> None:
    """Modules imported before activate() stay what they are: say so."""
    for name in names:
        module = sys.modules[name]
        logging.getLogger("lazyext").warning(
            "%s was imported from %s before lazyext.activate(); that copy stays in use "
            "even if it does not satisfy the configured requirement",
            name,
            _where(module),
        )
