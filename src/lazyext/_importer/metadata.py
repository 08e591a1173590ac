"""What ``importlib.metadata`` sees of the active environment: what imports, no more.

lazyext's first finder answers ``find_distributions`` before the host's (it sits first
on ``sys.meta_path``): the distributions of the active environment that serve this
process from the cache, one per name, imported or not. Three rules keep the answer
truthful:

* **Only for a search of** ``sys.path``. ``distributions(path=[directory])`` asks
  about that directory, where lazyext has nothing to say (CPython's own tests of
  ``importlib.metadata`` ask so).
* **A query that names a configured distribution counts as a use**, as an import of
  it does: its closure is installed and activated first, so ``find_spec`` and
  ``version`` agree in the first process too (libraries probe an optional dependency
  with ``find_spec``, then ``version``). Unnamed listings (``distributions()``,
  ``entry_points()``) list what is in the cache and install nothing: a lookup of a
  plugin group would otherwise install every extension of the config.
* **A distribution is lazyext's to answer while lazyext's copy is what imports.** A
  configured distribution that the host serves, or a dependency that the host has a
  distribution of (the host's copy wins a dependency's names: the fallback finder comes
  last), is the host's, and the host's metadata answers for it.

Loaded on the first metadata query of a process (``importlib.metadata`` itself costs
~40 ms to import).
"""

from __future__ import annotations

import os
import sys

from lazyext import _log
from lazyext._env import host
from lazyext._errors import LazyextError
from lazyext._importer import view
from lazyext._settings.names import DistName, canonical_name
from lazyext._store import guard

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from lazyext._importer.runtime import Runtime
    from lazyext._settings.config import Plan

#: ``(sys.path and its directories' mtimes, the host's distributions)`` of the last query.
_host_memo: list[tuple[tuple[tuple[str, int], ...], dict[DistName, tuple[str, str]]]] = []


def find_distributions(runtime: Runtime, context: Any) -> Iterable[Any]:
    """``LazyFinder.find_distributions``: the cache's distributions that import."""
    if not searches_sys_path(context):
        return iter(())
    name = getattr(context, "name", None)
    if name:
        use(runtime, str(name))
    targets = targets_for(runtime, str(name) if name else None)
    if not targets:
        return iter(())
    from importlib.metadata import DistributionFinder, MetadataPathFinder

    scoped = DistributionFinder.Context(name=name, path=targets)
    return MetadataPathFinder.find_distributions(scoped)


def searches_sys_path(context: Any) -> bool:
    """Does the query search ``sys.path`` (lazyext's installs stand on it as the view)?"""
    path = getattr(context, "path", None)
    if path is None or path is sys.path:
        return True
    own = view.views()
    return any(str(entry) in own for entry in path)


def configured(runtime: Runtime) -> dict[DistName, Plan]:
    """The configured distributions that lazyext installs, by name."""
    return {
        plan.dist: plan
        for plan in runtime.config.plans
        if plan.extension.package is not None and plan.extension.enabled and plan.marker_ok
    }


def use(runtime: Runtime, name: str) -> None:
    """A query naming a configured distribution: install and activate it, as an import
    of it would. A failure is the import's to raise; the query finds nothing."""
    plan = configured(runtime).get(canonical_name(name))
    if plan is None or guard.busy():
        return
    with runtime._lock:
        if plan.key in runtime.installed:
            return
    if runtime._served_by_host(plan, plan.extension.modules[0]):
        return  # the host's copy imports: its metadata answers
    try:
        runtime.provision_and_activate(plan)  # (said to be for the extension, not an import)
    except LazyextError as error:
        _log.info("importlib.metadata asked for %s, which cannot be installed: %s", name, error)


def targets_for(runtime: Runtime, name: str | None) -> list[str]:
    """The installs whose ``.dist-info`` answer for ``name`` (or all): the cached
    distributions of the environment that this process imports from the cache."""
    env = runtime.environment()
    with runtime._lock:
        active = dict(runtime.active)
    wanted = canonical_name(name) if name else None
    plans = configured(runtime)
    targets: list[str] = []
    mine = {locked.key for locked in env.dists} if env is not None else set()
    if env is not None:
        for locked in env.dists:
            if locked.host or (wanted is not None and locked.name != wanted):
                continue
            entry = active.get(locked.key) or runtime._published(locked.key)
            if entry is not None and imports_from_cache(runtime, locked.name, plans):
                targets.append(entry.target)
    for entry in active.values():  # installs outside the environment (ensure)
        if entry.key not in mine and (
            wanted is None or any(canonical_name(dist) == wanted for dist, _ in entry.resolved)
        ):
            targets.append(entry.target)
    return targets


def imports_from_cache(runtime: Runtime, dist: DistName, plans: dict[DistName, Plan]) -> bool:
    """Is the cache's copy of ``dist`` what this process imports?"""
    plan = plans.get(dist)
    if plan is not None:  # lazyext's first finder serves it, unless the host satisfies it
        return not runtime._served_by_host(plan, plan.extension.modules[0])
    return dist not in host_distributions(runtime.settings.cache_dir)


def host_distributions(cache_dir: str) -> dict[DistName, tuple[str, str]]:
    """:func:`lazyext._env.host.host_distributions`, listed again only when ``sys.path``
    or one of its directories changed (one ``stat`` per entry per query)."""
    state = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, 0))
    key = tuple(state)
    if _host_memo and _host_memo[0][0] == key:
        return _host_memo[0][1]
    found = host.host_distributions(cache_dir)
    _host_memo[:] = [(key, found)]
    return found
