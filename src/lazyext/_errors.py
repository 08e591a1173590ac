"""Errors raised by lazyext.

Every error is a :class:`LazyextError`; each also subclasses the builtin it means,
so existing ``except`` clauses keep working::

    LazyextError(Exception)
    ├── ConfigError(LazyextError, ValueError)      bad config or requirement; raised
    │   │                                          before any subprocess starts
    │   └── LockFileError(.., ImportError)         a lock file that cannot be used
    │                                              (stale, foreign, edited, damaged)
    ├── InstallError(LazyextError, ImportError)    uv failed, timed out or was killed
    │   ├── ResolutionError                        the extensions (and the host) cannot
    │   │                                          share one environment
    │   └── DistributionNotFound(InstallError, ModuleNotFoundError)
    │                                              no such distribution or version on
    │                                              the index (or in uv's cache offline):
    │                                              ``pytest.importorskip`` skips it
    ├── LockTimeout(LazyextError, TimeoutError)    another process holds a cache key
    ├── UnsafeCacheError(LazyextError, PermissionError)
    │                                              cache directory fails the
    │                                              ownership/permission checks
    └── CacheWriteError(LazyextError, OSError)     the cache cannot be changed
                                                   (read-only, permissions, full)

Errors carry their data as attributes and survive pickling, so a failure in a worker
process reaches its parent intact.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class LazyextError(Exception):
    """Base class of every error lazyext raises."""


class ConfigError(LazyextError, ValueError):
    """A configuration or requirement problem, found before anything is installed.

    ``problems`` lists every problem found (a file reports all of them at once);
    ``source`` names the file or object they came from.
    """

    def __init__(self, message: str, *, problems: tuple[str, ...] = (), source: str = "") -> None:
        super().__init__(message)
        self.problems = problems or (message,)
        self.source = source

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__))


class InstallError(LazyextError, ImportError):
    """Installing a requirement failed; also an :class:`ImportError`.

    Attributes: ``name`` (the import that triggered it, if any), ``spec`` (the
    requirement), ``returncode`` (uv's exit status; negative for a signal, ``None``
    when uv did not run), ``stderr_tail`` (the last lines uv wrote), ``cache_key``,
    ``transient`` (a retry may succeed) and ``security`` (hash mismatch and the like:
    never retried).
    """

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        spec: str = "",
        returncode: int | None = None,
        stderr_tail: str = "",
        cache_key: str = "",
        transient: bool = False,
        security: bool = False,
    ) -> None:
        super().__init__(message, name=name)
        self.spec = spec
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        self.cache_key = cache_key
        self.transient = transient
        self.security = security

    def __str__(self) -> str:
        message = str(self.args[0]) if self.args else ""
        if self.stderr_tail:
            tail = "\n".join("    " + line for line in self.stderr_tail.splitlines())
            return f"{message}\n  uv said:\n{tail}"
        return message

    def __reduce__(self) -> tuple[Any, ...]:
        # ImportError keeps ``name`` and ``path`` in slots, not in ``__dict__``.
        state = dict(self.__dict__, name=self.name, path=self.path)
        return (_rebuild, (type(self), self.args, state))


class LockFileError(ConfigError, ImportError):
    """A lock file does not match the config, the interpreter or itself.

    Found when an import first needs the lock, so it is also an :class:`ImportError`.
    """


class ResolutionError(InstallError):
    """The enabled extensions cannot be resolved into one environment.

    ``extensions`` names the configured extensions involved; ``host`` lists the host
    distributions that took part (``"name version at location"``); the message carries
    uv's explanation and what to change.
    """

    def __init__(
        self,
        message: str,
        *,
        extensions: tuple[str, ...] = (),
        host: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.extensions = extensions
        self.host = host


class DistributionNotFound(InstallError, ModuleNotFoundError):
    """The requirement names a distribution or version the index does not have (or, in
    offline mode, that uv's cache does not have): the module is simply not available,
    so this is also a :class:`ModuleNotFoundError` (``except ModuleNotFoundError`` and
    ``pytest.importorskip`` treat it as a missing module). Other install failures
    (network, hashes, timeouts) are plain :class:`InstallError` errors.
    """


def without_internal_frames(error: BaseException) -> BaseException:
    """``error`` with lazyext's own frames dropped from its traceback, for errors that
    reach user code through an ``import``: the user sees where they imported and what
    went wrong; ``__cause__`` (uv's failure, an ``OSError``) stays chained."""
    error.__traceback__ = None
    return error


class LockTimeout(LazyextError, TimeoutError):
    """A cache key stayed locked by another process for longer than the lock timeout."""

    def __init__(self, message: str, *, lock_file: str = "", timeout: float = 0.0) -> None:
        super().__init__(message)
        self.lock_file = lock_file
        self.timeout = timeout

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__))


class UnsafeCacheError(LazyextError, PermissionError):
    """The cache directory is owned by someone else, writable by others, or a symlink."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__))


class CacheWriteError(LazyextError, OSError):
    """Changing the cache (invalidate, gc) failed: read-only, not permitted, or full."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message)
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[LazyextError], args: tuple[Any, ...], state: dict[str, Any]) -> LazyextError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    for attribute, value in state.items():
        setattr(error, attribute, value)
    return error
