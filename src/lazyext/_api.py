"""The public functions: activate, deactivate, ensure(_async), extension, invalidate, warm."""

from __future__ import annotations

import _thread
import os
import sys

from lazyext._config import Config, Extension, Plan
from lazyext._load import load
from lazyext._runtime import Runtime

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path
    from typing import Any

    from lazyext._load import ConfigSource

_lock = _thread.RLock()
_runtime: Runtime | None = None


def _after_fork_in_child() -> None:
    # A lock held by another thread at the fork would never be released in the child.
    global _lock
    _lock = _thread.RLock()
    if _runtime is not None:
        _runtime.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _overrides(
    cache_dir: str | os.PathLike[str] | None,
    offline: bool | None,
    index_url: str | None,
    find_links: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
    no_index: bool | None,
    ttl_hours: float | None,
    lock: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    if isinstance(find_links, (str, os.PathLike)):
        find_links = [find_links]
    links = [os.fspath(link) for link in find_links] if find_links is not None else None
    return {
        "cache_dir": os.fspath(cache_dir) if cache_dir is not None else None,
        "offline": offline,
        "index_url": index_url,
        "find_links": links,
        "no_index": no_index,
        "ttl_hours": ttl_hours,
        "lock": os.fspath(lock) if lock is not None else None,
    }


def activate(
    config: ConfigSource = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    offline: bool | None = None,
    index_url: str | None = None,
    find_links: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    no_index: bool | None = None,
    ttl_hours: float | None = None,
    lock: str | os.PathLike[str] | None = None,
) -> Config:
    """Install lazyext's import hook for ``config``; idempotent.

    ``config`` is ``None`` (``$LAZYEXT_CONFIG``, else the first ``lazyext.toml`` or
    ``pyproject.toml`` with ``[tool.lazyext]`` from the working directory up, then from
    the main script's directory up, stopping at a ``.git``; none found: the defaults,
    and a warning naming where it looked), a path to a TOML file, a mapping of
    top-level import name to requirement, or a sequence of :class:`Extension`. Keyword
    options override the file and the environment. Raises :class:`ConfigError` for
    any invalid input, before anything is installed. Returns the loaded config.

    ``lock`` names a ``pylock.toml`` (``lazyext lock`` writes one): every process then
    installs exactly its versions and hashes.
    """
    global _runtime
    loaded = load(
        config, _overrides(cache_dir, offline, index_url, find_links, no_index, ttl_hours, lock)
    )
    if config is None and loaded.source == "<defaults>":
        from lazyext import _log
        from lazyext._load import not_found_message

        _log.warning("%s", not_found_message())
    with _lock:
        if _runtime is None:
            _runtime = Runtime(loaded)
        elif _runtime.config != loaded:
            _runtime.configure(loaded)
        _runtime.install_finders()
    return loaded


def deactivate() -> None:
    """Remove the import hook and every ``sys.path`` entry lazyext added.

    Modules already imported stay imported.
    """
    global _runtime
    with _lock:
        runtime, _runtime = _runtime, None
    if runtime is not None:
        runtime.uninstall()


def active_config() -> Config | None:
    runtime = _runtime
    return runtime.config if runtime is not None else None


def _runtime_for_use() -> Runtime:
    """The active runtime, created with the discovered config if lazyext is not active."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = Runtime(load(None, {}))
            _runtime.install_finders()
        return _runtime


def _config_for(options: Mapping[str, Any]) -> Config:
    """The active config, or one loaded with ``options`` over the active file's."""
    active = active_config()
    if not any(value is not None for value in options.values()):
        return active or load(None, {})
    source = active.source if active is not None and active.source.endswith(".toml") else None
    return load(source, options)


def plan_for(requirement: str, config: Config) -> Plan:
    """The configured plan for a name or requirement, or a new one for ``requirement``."""
    plan = config.plan_for(requirement)
    if plan is not None and plan.extension.package is not None:
        return plan
    from lazyext import _keys, _parse

    _keys.check_requirement_text(requirement)
    dist = _keys.canonical_requirement(
        requirement, allow_direct_urls=config.settings.allow_direct_urls
    )[1]
    extension = Extension(name=dist, package=requirement, modules=(dist.replace("-", "_"),))
    return _parse._plan(extension, config.settings)


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
    options = _overrides(cache_dir, offline, index_url, find_links, no_index, ttl_hours)
    runtime = _runtime_for_use()
    config = _config_for(options)
    plan = plan_for(requirement, config)
    if not plan.marker_ok:
        from lazyext._errors import ConfigError

        raise ConfigError(f"{plan.requirement!r} does not apply to this interpreter (marker)")
    from pathlib import Path

    from lazyext._errors import LazyextError, without_internal_frames

    try:
        if config is runtime.config and runtime.config.plan_for(plan.name) is plan:
            entries = runtime.provision_and_activate(plan)
            return Path(entries[0].target) if entries else _host_location(runtime, plan)
        from lazyext._provision import install

        installed = install(plan, config)
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
    import asyncio

    return await asyncio.to_thread(ensure, requirement, **options)


def extension(name: str, config: Config | None = None) -> Extension:
    """The configured extension ``name`` (of the active config, else the discovered
    one): its ``package``, ``modules``, ``enabled`` and free-form ``arguments``."""
    config = config or _config_for({})
    plan = config.plan_for(name)
    if plan is None:
        known = ", ".join(sorted(plan.name for plan in config.plans)) or "none"
        from lazyext._errors import ConfigError

        raise ConfigError(f"no configured extension named {name!r} in {config.source} ({known})")
    return plan.extension


def _host_location(runtime: Runtime, plan: Plan) -> Path:
    """Where the host serves ``plan``'s distribution from (nothing of the cache's)."""
    from pathlib import Path

    env = runtime.environment()
    locked = env.dist(plan.dist) if env is not None else None
    return Path(locked.host if locked is not None and locked.host else sys.prefix)


def closure_keys(config: Config, plan: Plan) -> list[str]:
    """The cache keys of the distributions ``plan`` needs, per the stored environment."""
    from lazyext import _cache, _environment

    root = _cache.ensure_root(config.settings.cache_dir)
    env = _environment.find(root, config.env_key, config.platform, config.settings)
    closure = env.closure_of(plan.key) if env is not None else None
    if closure is None:  # a requirement outside the config (ensure): the environment it joined
        from lazyext._provision import joined_key

        key = joined_key(config, config.env_key, plan)
        env = _environment.find(root, key, config.platform, config.settings)
        if env is None:  # installed by another config: the newest environment that has it
            env = _environment.with_root(root, plan.key, config.platform)
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
    from lazyext import _cache
    from lazyext._guards import forget_failures

    options = _overrides(cache_dir, offline, index_url, find_links, no_index, ttl_hours)
    config = _config_for(options)
    plan = plan_for(requirement, config)
    root = _cache.ensure_root(config.settings.cache_dir)
    forget_failures()
    from lazyext import _failures

    _failures.clear(root, plan.key)
    keys = closure_keys(config, plan)
    with _lock:
        if _runtime is not None:
            _runtime.forget(plan.key)
            for key in keys:
                _runtime.forget(key)
    return sum(_cache.invalidate_key(root, key) for key in [plan.key, *keys])


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

    ``compile``: write their bytecode ahead of time (:mod:`lazyext._bytecode`), for
    read-only deployments and ``PYTHONDONTWRITEBYTECODE``. Returns ``{extension name:
    target path or the exception it raised}``.
    """
    from concurrent.futures import ThreadPoolExecutor

    from lazyext._provision import install

    if parallel is not None and (
        isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1
    ):
        from lazyext._errors import ConfigError

        raise ConfigError(f"parallel must be a whole number >= 1, not {parallel!r}")
    config = config or _config_for({})
    wanted = list(names)
    plans = [
        plan
        for plan in config.plans
        if plan.extension.package is not None
        and plan.marker_ok
        and plan.extension.enabled
        and (plan.name in wanted if wanted else True)
    ]
    unknown = sorted(set(wanted) - {plan.name for plan in config.plans})
    if unknown:
        from lazyext._errors import ConfigError

        raise ConfigError(f"no configured extension named {', '.join(map(repr, unknown))}")
    # Named but disabled: not part of the environment, so never imported from the cache.
    disabled = [p.name for p in config.plans if p.name in wanted and not p.extension.enabled]

    from pathlib import Path

    def one(plan: Plan) -> BaseException | Path:
        try:
            installed = install(plan, config)
            if compile:
                from lazyext._bytecode import compile_target

                for entry in installed.entries:
                    compile_target(entry.target)
            targets = installed.targets
            return Path(targets[0]) if targets else Path(sys.prefix)
        except Exception as error:
            return error

    if refresh and plans:
        from lazyext._provision import environment

        environment(config, refresh=True)  # once for all: one environment
    if plans:
        from lazyext._provision import install_together

        install_together(plans, config)  # what they miss, in one uv run (best effort)
    workers = max(1, min(parallel or config.settings.parallel, len(plans) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lazyext-warm") as pool:
        results = list(pool.map(one, plans))
    done: dict[str, BaseException | Path] = {
        plan.name: result for plan, result in zip(plans, results, strict=True)
    }
    for name in disabled:
        from lazyext._errors import ConfigError

        done[name] = ConfigError(
            f"extension {name!r} is disabled (enabled = false): nothing installed; set "
            "enabled = true in the config to use it"
        )
    return done
