"""What is installed, per extension and per distribution, read from the cache only.

The one answer to "what serves this extension" for the CLI, the web API, maintenance
and health checks: the stored environment of the config and the published entries
of each extension's closure. Nothing here resolves or installs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lazyext import _cache, _environment

if TYPE_CHECKING:
    from lazyext._cache import Entry
    from lazyext._config import Config, Plan
    from lazyext._environment import Environment


def stored_environment(config: Config) -> Environment | None:
    from lazyext._provision import stored_environment as stored

    return stored(config, _cache.ensure_root(config.settings.cache_dir))


def closure_entries(
    config: Config, plan: Plan, env: Environment | None = None
) -> list[Entry] | None:
    """The published entries of ``plan``'s closure; ``None`` if unresolved or incomplete."""
    from lazyext._provision import cached_closure

    env = env if env is not None else stored_environment(config)
    if env is None:
        return None
    root = _cache.ensure_root(config.settings.cache_dir)
    return cached_closure(root, env, plan.key, config.settings)


def main_entry(config: Config, plan: Plan, env: Environment | None = None) -> Entry | None:
    """The entry of ``plan``'s own distribution, if its closure is complete."""
    entries = closure_entries(config, plan, env)
    for entry in entries or ():
        if any(_normal(dist) == plan.dist for dist, _ in entry.resolved):
            return entry
    return None


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def extension_rows(config: Config) -> list[dict[str, Any]]:
    """One extension result (:mod:`lazyext._shapes`) per configured extension: state,
    locked version, size, path, its closure and a remembered failure."""
    from lazyext import _shapes
    from lazyext._host import satisfies

    env = stored_environment(config)
    rows = []
    for plan in config.plans:
        row = _shapes.extension(
            plan.name,
            ok=True,
            state="built-in",
            requirement=plan.requirement or "(built-in)",
            modules=list(plan.extension.modules),
            enabled=plan.extension.enabled,
            key=plan.key,
            size=0,
        )
        if plan.extension.package is not None:
            _fill(row, config, plan, env, satisfies)
        rows.append(row)
    return rows


def _fill(
    row: dict[str, Any], config: Config, plan: Plan, env: Environment | None, satisfies: Any
) -> None:
    if not plan.marker_ok:
        row["state"] = "not-applicable"
        return
    closure = env.closure_of(plan.key) if env is not None else None
    locked = env.dist(plan.dist) if env is not None else None
    if closure is not None:
        row["distributions"] = [f"{d.name}=={d.version}" for d in closure]
    if locked is not None:
        row["version"] = locked.version
    entries = closure_entries(config, plan, env) if closure is not None else None
    if locked is not None and locked.host:
        row["state"] = "host"
        row["path"] = locked.host
    elif entries is not None and env is not None:
        row["state"] = "expired" if env.expired() else "installed"
        row["size"] = sum(_cache.dir_size(entry.path) for entry in entries)
        main = main_entry(config, plan, env)
        row["path"] = str(main.target) if main is not None else ""
        row["installed_at"] = main.installed_at if main is not None else None
    elif satisfies(plan.dist, plan.specifier):
        row["state"] = "host"
    else:
        row["state"] = "missing"
        _remembered(row, config, plan)


def _remembered(row: dict[str, Any], config: Config, plan: Plan) -> None:
    """A failure another process recorded for this extension (or its environment)."""
    from lazyext import _failures

    root = _cache.ensure_root(config.settings.cache_dir)
    for key in (plan.key, config.env_key):
        failure = _failures.read(root, key)
        if failure is not None:
            row.update(ok=False, state="failed", failure=failure)
            row["detail"] = _failures.describe(failure)
            return


def distribution_rows(config: Config) -> list[dict[str, Any]]:
    """One row per distribution of the stored environment, with who pulled it in."""
    env = stored_environment(config)
    if env is None:
        return []
    root = _cache.ensure_root(config.settings.cache_dir)
    names = {plan.key: plan.name for plan in config.plans}
    rows = []
    for locked in env.dists:
        entry = (
            None
            if locked.host
            else _cache.find_entry(root, locked.key, env.platform, config.settings)
        )
        rows.append(
            {
                "name": locked.name,
                "version": locked.version,
                "state": "host" if locked.host else "installed" if entry else "missing",
                "path": locked.host or (str(entry.target) if entry else ""),
                "key": locked.key,
                "pulled_in_by": sorted(names.get(k, k) for k in env.pulled_in_by(locked.name)),
            }
        )
    return rows


def environment_summary(config: Config) -> dict[str, Any]:
    env = stored_environment(config)
    if env is None:
        return {"key": config.env_key, "state": "unresolved", "lock": config.settings.lock or ""}
    directory = _environment.env_dir(
        _cache.ensure_root(config.settings.cache_dir), env.key, env.platform
    )
    return {
        "key": env.key,
        "state": "expired" if env.expired() else "resolved",
        "lock": config.settings.lock or "",
        "resolved_at": env.created_at,
        "pylock": f"{directory}/{_environment.LOCK_FILE}",
    }
