"""The public functions that install: ensure(_async), invalidate, warm.

Loaded on first use (``lazyext.ensure`` and the others are served by the package's
``__getattr__``): they enter the stages that resolve and install, which a process that
only imports from the cache never loads.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lazyext import _api, _trust
from lazyext._env import provision, resolve, stored
from lazyext._env.stored import Environment
from lazyext._errors import ConfigError, LazyextError, without_internal_frames
from lazyext._importer.runtime import Runtime
from lazyext._settings import keys
from lazyext._settings.config import Config, Extension, Plan, check_names
from lazyext._settings.names import DistKey
from lazyext._settings.parse import make_plan
from lazyext._store import failures
from lazyext._store.bytecode import compile_target
from lazyext._store.entries import invalidate_key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any


def plan_for(requirement: str, config: Config) -> Plan:
    """The configured plan for a name or requirement, or a new one for ``requirement``."""
    plan = config.plan_for(requirement)
    if plan is not None and plan.extension.package is not None:
        return plan
    keys.check_requirement_text(requirement)
    dist = keys.canonical_requirement(
        requirement, allow_direct_urls=config.settings.allow_direct_urls
    )[1]
    extension = Extension(name=dist, package=requirement, modules=(dist.replace("-", "_"),))
    return make_plan(extension, config.settings)


def ensure(
    requirement: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    offline: bool | None = None,
    index_url: str | None = None,
    find_links: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    no_index: bool | None = None,
    ttl_hours: float | None = None,
) -> Path:
    """Make ``requirement`` (or a configured extension's name) installed and importable
    now; return the directory it is installed in. Options default to the active ones.
    """
    options = _api.overrides(cache_dir, offline, index_url, find_links, no_index, ttl_hours)
    runtime = _api.runtime_for_use()
    config = _api.config_for(options)
    plan = plan_for(requirement, config)
    if not plan.marker_ok:
        raise ConfigError(f"{plan.requirement!r} does not apply to this interpreter (marker)")
    try:
        if config is runtime.config and runtime.config.plan_for(plan.name) is plan:
            entries = runtime.provision_and_activate(plan)
            return Path(entries[0].target) if entries else _host_location(runtime, plan)
        installed = provision.install(plan, config)
        for entry in installed.entries:
            runtime.activate_entry(entry)
    except LazyextError as error:
        raise without_internal_frames(error)  # noqa: B904 (its cause stays chained)
    targets = installed.targets
    return Path(targets[0]) if targets else _host_location(runtime, plan)


async def ensure_async(requirement: str, **options: Any) -> Path:
    """:func:`ensure` for ``async`` code (the seed's ``await ensure_package(...)``): the
    install runs in a worker thread, so the event loop keeps serving and several calls
    gathered together install in parallel. Same keyword options, result and errors."""
    import asyncio  # ~15 ms: only for the callers of this function

    return await asyncio.to_thread(ensure, requirement, **options)


def _host_location(runtime: Runtime, plan: Plan) -> Path:
    """Where the host serves ``plan``'s distribution from (nothing of the cache's)."""
    env = runtime.environment()
    locked = env.dist(plan.dist) if env is not None else None
    return Path(locked.host if locked is not None and locked.host else sys.prefix)


def environment_of(config: Config, plan: Plan) -> Environment | None:
    """The stored environment that has ``plan`` among its extensions: the config's own,
    the one ``ensure`` made it join, or (installed by another config) the newest."""
    root = _trust.ensure_root(config.settings.cache_dir)
    for key in (config.env_key, resolve.joined_key(config, config.env_key, plan)):
        env = stored.find(root, key, config.platform, config.settings)
        if env is not None and env.closure_of(plan.key) is not None:
            return env
    return stored.with_root(root, plan.key, config.platform)


def closure_keys(config: Config, plan: Plan) -> list[DistKey]:
    """The cache keys of the distributions ``plan`` needs, per its stored environment."""
    env = environment_of(config, plan)
    closure = env.closure_of(plan.key) if env is not None else None
    return [locked.key for locked in closure or () if locked.key]


def invalidate(
    requirement: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    offline: bool | None = None,
    index_url: str | None = None,
    find_links: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    no_index: bool | None = None,
    ttl_hours: float | None = None,
) -> int:
    """Mark the cached installs of ``requirement`` invalid: the next ensure or first
    import reinstalls it. Processes that imported it keep working. Returns the number
    of installs marked.
    """
    options = _api.overrides(cache_dir, offline, index_url, find_links, no_index, ttl_hours)
    config = _api.config_for(options)
    return invalidate_plan(config, plan_for(requirement, config))


def invalidate_plan(config: Config, plan: Plan) -> int:
    """Invalidate the installs of ``plan``'s closure and forget its failures; how many."""
    root = _trust.ensure_root(config.settings.cache_dir)
    failures.forget_all()
    failures.clear(root, plan.key)
    found = closure_keys(config, plan)
    _api.forget(plan.key, found)
    return sum(invalidate_key(root, key) for key in found)


def known(config: Config, plan: Plan) -> bool:
    """Is ``plan`` a configured extension, or a requirement some environment installed?"""
    return config.plan_for(plan.name) is not None or environment_of(config, plan) is not None


def warm(
    names: Iterable[str] = (),
    config: Config | None = None,
    *,
    refresh: bool = False,
    compile: bool = True,
    parallel: int | None = None,
) -> dict[str, BaseException | Path]:
    """Install the given (default: all enabled) extensions of ``config`` in parallel
    (``parallel`` installs at once; default: the ``parallel`` setting).

    ``compile``: write their bytecode ahead of time (:mod:`lazyext._store.bytecode`),
    for read-only deployments and ``PYTHONDONTWRITEBYTECODE``. Returns ``{extension
    name: target path or the exception it raised}``.
    """
    from concurrent.futures import ThreadPoolExecutor  # ~8 ms: warm only

    if parallel is not None and (
        isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1
    ):
        raise ConfigError(f"parallel must be a whole number >= 1, not {parallel!r}")
    config = config or _api.config_for({})
    wanted = list(names)
    plans = [
        plan
        for plan in config.plans
        if plan.extension.package is not None
        and plan.marker_ok
        and plan.extension.enabled
        and (plan.name in wanted if wanted else True)
    ]
    check_names(config, wanted)
    # Named but disabled: not part of the environment, so never imported from the cache.
    disabled = [p.name for p in config.plans if p.name in wanted and not p.extension.enabled]

    def one(plan: Plan) -> BaseException | Path:
        try:
            installed = provision.install(plan, config)
            if compile:
                for entry in installed.entries:
                    compile_target(entry.target)
            targets = installed.targets
            return Path(targets[0]) if targets else Path(sys.prefix)
        except Exception as error:
            return error

    if refresh and plans:
        provision.environment(config, refresh=True)  # once for all: one environment
    if plans:
        provision.install_together(plans, config)  # what they miss, in one uv run
    workers = max(1, min(parallel or config.settings.parallel, len(plans) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lazyext-warm") as pool:
        results = list(pool.map(one, plans))
    done: dict[str, BaseException | Path] = {
        plan.name: result for plan, result in zip(plans, results, strict=True)
    }
    for name in disabled:
        done[name] = ConfigError(
            f"extension {name!r} is disabled (enabled = false): nothing installed; set "
            "enabled = true in the config to use it"
        )
    return done
