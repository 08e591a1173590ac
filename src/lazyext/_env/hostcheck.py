"""The environment against the host: a lock honoured or refused, and what really imports.

A process imports a dependency's names from the host when the host has them (lazyext's
fallback finder comes last, so the application's and the host's modules win), and a
configured extension's from the cache unless the host's copy satisfies it (lazyext's
first finder). So a lock that pins a version the host has at another version would be
silently contradicted. It is refused instead (:func:`check_lock`), naming the
distribution, both versions and what to do; the one contradiction lazyext honours is
a configured extension whose host copy does not satisfy it (the cache's copy is
imported first).

Whether the host still is what a lock was checked against is remembered in the stored
environment (:func:`lock_source`, checked by :func:`lazyext._env.host.lock_current`
with one ``stat`` per site directory); :func:`imports` and :func:`broken_requirements`
say what a process of this config imports and which host distributions that breaks,
for ``status`` and ``doctor``. Loaded by the resolution of a lock and the reports only.
"""

from __future__ import annotations

import os

from lazyext._env import host
from lazyext._env.stored import Environment
from lazyext._errors import LockFileError
from lazyext._settings.config import Config, Plan
from lazyext._settings.names import DistName, canonical_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from lazyext._env.lockfile import Package


def contradictions(
    packages: Iterable[tuple[DistName, str]],
    plans: Sequence[Plan],
    on_host: Mapping[DistName, tuple[str, str]],
) -> list[tuple[DistName, str, str, str]]:
    """``(name, locked, host version, where)`` of each locked version the host would
    replace at import time."""
    configured = {plan.dist: plan for plan in plans}
    found = []
    for name, version in packages:
        there = on_host.get(name)
        if there is None or not version or there[0] == version:
            continue
        plan = configured.get(name)
        if plan is not None and not host.version_satisfies(there[0], plan.specifier):
            continue  # lazyext's first finder serves the cache's copy: the lock is honoured
        found.append((name, version, there[0], there[1]))
    return found


def check_lock(
    packages: Sequence[Package],
    plans: Sequence[Plan],
    on_host: Mapping[DistName, tuple[str, str]],
    where: str,
) -> None:
    """Refuse a lock that this interpreter's host environment would contradict."""
    found = contradictions(((p.name, p.version) for p in packages if not p.url), plans, on_host)
    if not found:
        return
    configured = {plan.dist: plan for plan in plans}
    problems = tuple(_problem(item, configured.get(item[0])) for item in found)
    pins = " ".join(f"{name}=={locked}" for name, locked, _, _ in found)
    raise LockFileError(
        f"{where} cannot be honoured here: {'; '.join(problems)}. Make the host match the "
        f"lock (`pip install {pins}` in this interpreter's environment, or uninstall the "
        "host's copy), or lock again with this interpreter (`lazyext lock`)",
        problems=problems,
        source=where,
    )


def _problem(item: tuple[DistName, str, str, str], plan: Plan | None) -> str:
    name, locked, version, where = item
    why = (
        f"the host's copy satisfies the extension's requirement {plan.requirement!r}, so it "
        f"is imported (require {name}=={locked} in the config to have the cache's imported)"
        if plan is not None
        else "the host's copy is imported instead (a dependency's names are the host's first)"
    )
    return f"it pins {name} {locked}, but this interpreter has {name} {version} in {where}: {why}"


def lock_source(path: str, identity: str, on_host: Mapping[DistName, tuple[str, str]]) -> str:
    """The ``source`` of an environment read from the lock ``path``: the lock file's
    ``identity`` and the state of the site directories it was checked against."""
    records = [identity, host.HOST_CHECKED]
    for directory in sorted({where for _, where in on_host.values()}):
        try:
            records.append(f"{directory}\t{os.stat(directory).st_mtime_ns}")
        except OSError:
            continue
    return "\n".join(records)


def imports(config: Config, env: Environment) -> dict[DistName, tuple[str, str]]:
    """``{name: (version, where)}``: what a process of ``config`` imports for each
    distribution of ``env``, ``where`` a host directory or ``"cache"``."""
    on_host = host.host_distributions(config.settings.cache_dir)
    configured = {plan.dist: plan for plan in config.plans if plan.extension.package is not None}
    found: dict[DistName, tuple[str, str]] = {}
    for locked in env.dists:
        there = on_host.get(locked.name)
        plan = configured.get(locked.name)
        if there is None:  # a host distribution that has gone since imports nothing
            found[locked.name] = (locked.version, "cache") if locked.key else ("", "")
        elif plan is not None and not host.version_satisfies(there[0], plan.specifier):
            found[locked.name] = (locked.version, "cache")
        else:
            found[locked.name] = there
    return found


def broken_requirements(
    served: Mapping[DistName, tuple[str, str]], cache_dir: str
) -> dict[DistName, list[str]]:
    """Host distributions whose requirements the cache's copies do not satisfy.

    ``served``: :func:`imports`. ``{name served from the cache: [what it breaks]}``.
    """
    from_cache = {name: version for name, (version, where) in served.items() if where == "cache"}
    if not from_cache:
        return {}
    from importlib.metadata import distributions

    from packaging.markers import UndefinedEnvironmentName
    from packaging.requirements import InvalidRequirement, Requirement

    on_host = host.host_distributions(cache_dir)
    dirs = sorted({where for _, where in on_host.values()})
    seen: set[DistName] = set()
    broken: dict[DistName, list[str]] = {}
    for dist in distributions(path=dirs):
        name = canonical_name(dist.metadata["Name"] or "")
        if not name or name in seen or on_host.get(name, ("", ""))[0] != dist.version:
            continue
        seen.add(name)
        for text in dist.requires or ():
            try:
                requirement = Requirement(text)
                applies = requirement.marker is None or requirement.marker.evaluate({"extra": ""})
            except (InvalidRequirement, UndefinedEnvironmentName):
                continue
            wanted = canonical_name(requirement.name)
            version = from_cache.get(wanted)
            if applies and version and not requirement.specifier.contains(version, True):
                broken.setdefault(wanted, []).append(
                    f"the host's {name} {dist.version} requires {text}, but {wanted} "
                    f"{version} is imported from the cache"
                )
    return broken


def lock_problem(config: Config) -> dict[str, str] | None:
    """What the first import would raise about the config's ``lock`` file, if anything:
    the checks of :func:`lazyext._env.resolve.from_lock_file`, read-only (``status``,
    ``doctor``): ``{"type", "message"}``."""
    from lazyext._env import lockfile
    from lazyext._env.stored import environment_plans

    path = config.settings.lock
    if not path:
        return None
    plans = environment_plans(config)
    try:
        text = lockfile.read(path)
        packages = lockfile.check_lock(text, path, config.settings)  # fields and sources
        lockfile.check_platform(packages, path, config.settings.allow_sdist)
        lockfile.check_covers(packages, {p.name: p.requirement for p in plans}, path)
        hashes = {p.dist: p.extension.hashes for p in plans if p.extension.hashes}
        lockfile.check_hashes(packages, hashes, path)
        check_lock(packages, plans, host.host_distributions(config.settings.cache_dir), path)
    except LockFileError as error:
        return {"type": type(error).__name__, "message": str(error)}
    return None
