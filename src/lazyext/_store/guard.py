"""Is this thread making something for the cache? Then its imports are lazyext's own.

While a thread is inside get-or-make (:mod:`.flight`), the imports it makes (uv's
wrapper, a ``.pth`` line, lazyext's own modules) must not come back to lazyext's
finder. Kept apart from :mod:`.flight` so that the finder asks without loading the
install machinery: this module imports nothing.
"""

from __future__ import annotations

import _thread
import os

_local = _thread._local()


def busy() -> bool:
    """True while this thread is making something (its own imports must not recurse)."""
    return bool(getattr(_local, "depth", 0))


def enter() -> None:
    _local.depth = getattr(_local, "depth", 0) + 1


def leave() -> None:
    _local.depth = getattr(_local, "depth", 1) - 1


def _reset_after_fork() -> None:
    global _local
    _local = _thread._local()  # the depth of threads the child does not have


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
