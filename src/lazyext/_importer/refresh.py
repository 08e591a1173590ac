"""Stale-while-revalidate: an expired environment keeps serving while it is resolved again.

One background thread per process resolves the environment again (other processes
wait on the key's lock and then find the fresh one) and installs the new closures of
the extensions this process uses. A failure is remembered like any failed resolution
(failure memory, lazyext._store.failures) and logged; the expired environment keeps
serving.
"""

from __future__ import annotations

import threading

from lazyext import _log
from lazyext._env.provision import environment, install
from lazyext._settings.config import Config
from lazyext._settings.names import ReqKey

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def start(config: Config, in_use: Callable[[], set[ReqKey]]) -> None:
    """Refresh ``config``'s environment in a daemon thread; ``in_use()`` says which
    extensions (by key) this process has imported."""

    def refresh() -> None:
        try:
            environment(config, refresh=True)
            keys = in_use()
            for plan in config.plans:
                if plan.key in keys:
                    install(plan, config)
            _log.info("refreshed the expired environment of %s", config.source)
        except Exception as error:  # a background thread: log, never raise
            _log.warning("refreshing the expired environment failed: %s", error)

    # A daemon: a short script never waits at exit for the network; what it did not
    # finish, the next process (or the maintenance task) does.
    threading.Thread(target=refresh, name="lazyext-refresh", daemon=True).start()
