"""A plugin's dependencies: resolved and installed through the cache, never the host.

:func:`provision_dependencies` installs each requirement's closure (resolved to fit
the process's environment) and makes it importable through lazyext's finders.
:func:`resolve_dependencies` is its dry run, for ``validate``: the same resolution,
stored in the cache like any resolution, and nothing installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from lazyext import _api
from lazyext._env.provision import environment_for, install
from lazyext._errors import DistributionNotFound, LazyextError
from lazyext._settings.config import Config
from lazyext._use import plan_for


def provision_dependencies(requirements: Iterable[str], config: Config) -> list[str]:
    """Install (or find cached) each requirement and make it importable; return the
    install directories. Requirements whose marker excludes this interpreter are skipped."""
    wanted = list(requirements)
    if not wanted:
        return []
    runtime = _api.runtime_for_use()
    targets = []
    for requirement in wanted:
        plan = plan_for(requirement, config)
        if not plan.marker_ok:
            continue
        # Its whole closure, resolved to fit the process's environment; a dependency
        # the host already satisfies has nothing of the cache's to activate.
        installed = install(plan, config)
        for entry in installed.entries:
            runtime.activate_entry(entry)
        targets += installed.targets
    importlib.invalidate_caches()
    return targets


def resolve_dependencies(requirements: Iterable[str], config: Config) -> list[str]:
    """Resolve each requirement as :func:`provision_dependencies` would, installing
    nothing; return one problem per requirement that does not resolve (a distribution
    or version that does not exist, a conflict with the environment, no index)."""
    problems = []
    for requirement in requirements:
        try:
            plan = plan_for(requirement, config)
            if plan.marker_ok:
                environment_for(plan, config)
        except DistributionNotFound:
            where = "uv's cache (offline)" if config.settings.offline else "the configured sources"
            problems.append(
                f"dependencies: {requirement}: no such distribution or version in {where}"
            )
        except LazyextError as error:
            problems.append(f"dependencies: {requirement}: {str(error).splitlines()[0]}")
    return problems
