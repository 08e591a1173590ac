"""Logging for the import path without importing :mod:`logging` (~5-9 ms) for nothing.

If the program never imported ``logging``, no handler or level can have been
configured, so a DEBUG or INFO record would be dropped anyway (only the last-resort
handler exists, and it shows WARNING and up): such records are skipped without
importing it. Warnings and errors always go through ``logging.getLogger("lazyext")``.
"""

from __future__ import annotations

import sys

WARNING = 30


def debug(message: str, *args: object) -> None:
    _emit(10, message, args)


def info(message: str, *args: object) -> None:
    _emit(20, message, args)


def warning(message: str, *args: object) -> None:
    _emit(WARNING, message, args)


def _emit(level: int, message: str, args: tuple[object, ...]) -> None:
    if level < WARNING and "logging" not in sys.modules:
        return
    import logging

    logger = logging.getLogger("lazyext")
    if logger.isEnabledFor(level):
        if any("@" in str(arg) for arg in args):  # index URLs may carry credentials
            # Only then: a cached import logs nothing and loads no more (benchmark B3).
            from lazyext._settings.secrets import redact

            args = tuple(redact(str(arg)) if "@" in str(arg) else arg for arg in args)
        # stacklevel=3: the record names lazyext's caller of debug()/info()/warning().
        logger.log(level, message, *args, stacklevel=3)
