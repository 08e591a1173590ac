"""What a fleet worker does to get its environment, shared by the Dask and Ray plugins.

In the worker process: unpack a shipped archive (idempotent, per-key locked: one copy
per host however many workers start at once), activate the config, and optionally
install every enabled extension now (per-key locked too: one install per host).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

from lazyext._errors import ConfigError, LazyextError


class FleetError(LazyextError, RuntimeError):
    """A worker could not prepare the environment; ``failures`` maps each extension (or
    step: ``unpack``, ``activate``) to its error message, ``worker`` names the worker."""

    def __init__(
        self, message: str, *, worker: str = "", failures: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.worker = worker
        self.failures = dict(failures or {})

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (str(self), self.worker, self.failures))


def _rebuild(message: str, worker: str, failures: dict[str, str]) -> FleetError:
    return FleetError(message, worker=worker, failures=failures)


def prepare(
    config: Any,
    options: Mapping[str, Any],
    *,
    lock: str | None = None,
    pack: str | bytes | None = None,
    warm: bool = True,
) -> dict[str, Any]:
    """Make this process's lazyext environment ready; a report of what was done."""
    from lazyext import _api, _use

    report: dict[str, Any] = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "unpacked": [],
        "ready": [],
        "failed": {},
    }
    kwargs = dict(options)
    if lock is not None:
        import inspect

        if "lock" not in inspect.signature(_api.activate).parameters:
            raise ConfigError("lock= needs a lazyext that supports lock files (lazyext lock)")
        kwargs["lock"] = lock
    try:
        loaded = _api.activate(config, **kwargs)
    except LazyextError as error:
        report["failed"]["activate"] = str(error)
        return report
    if pack is not None:
        try:
            report["unpacked"] = _unpack(loaded, pack)
        except LazyextError as error:
            report["failed"]["unpack"] = str(error)
            return report
    if warm:
        for name, result in _use.warm(config=loaded).items():
            if isinstance(result, BaseException):
                report["failed"][name] = str(result)
            else:
                report["ready"].append(name)
    return report


def _unpack(config: Any, pack: str | bytes) -> list[str]:
    from lazyext import _trust
    from lazyext._pack.unpack import unpack
    from lazyext._store.entries import new_staging

    if isinstance(pack, str):
        return unpack(config, pack).published
    # Shipped with the plugin: written privately into the cache's staging directory.
    root = _trust.ensure_root(config.settings.cache_dir)
    staging = new_staging(root, "shipped")
    try:
        path = os.path.join(staging, "archive")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
            handle.write(pack)
        return unpack(config, path).published
    finally:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)


def raise_for(report: Mapping[str, Any], worker: str) -> None:
    failed = report.get("failed") or {}
    if failed:
        listing = "; ".join(f"{name}: {message}" for name, message in failed.items())
        raise FleetError(
            f"lazyext could not prepare worker {worker} (host {report.get('host')}, pid "
            f"{report.get('pid')}): {listing}",
            worker=worker,
            failures=failed,
        )
