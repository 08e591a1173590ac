"""Joint resolution: the enabled extensions of a config, and the host, as one environment.

(Loaded by :mod:`.provision` only when an environment is resolved.)

``uv pip compile --format pylock.toml`` resolves every enabled extension together for
this interpreter, with the distributions the host can already import as constraints
(they win at import time anyway: a resolution that ignored them would promise versions
the process never imports). A second, offline ``uv pip compile`` pinned to the result
gives the dependency graph (:mod:`.graph`), which PEP 751 leaves optional and uv does
not write; it is added to the lock, so the first import of an extension installs its
closure only.

A conflict is an error before anything is installed (:mod:`.explain`). Resolution runs
once per environment key under that key's lock (:mod:`.provision`), offline first; the
result is stored in the cache (:mod:`.stored`).
"""

from __future__ import annotations

import os
import time

from lazyext import _log, _trust
from lazyext._env import graph, host, hostcheck, lockfile, stored
from lazyext._env.explain import explain
from lazyext._env.stored import Environment, Locked, environment_plans
from lazyext._errors import DistributionNotFound, InstallError
from lazyext._record import replace
from lazyext._settings.config import Config, Plan, Settings
from lazyext._settings.keys import dist_key, environment_key
from lazyext._settings.names import DistKey, DistName, EnvKey
from lazyext._store import flight
from lazyext._store.entries import new_staging
from lazyext._store.flight import remove_tree
from lazyext._uv.compile import compile_requirements

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: The warning when one extension's distribution does not exist (``lazyext refresh``
#: leaves it out of its output: it reports on the extensions it was asked about).
LEFT_OUT = "%s; resolving the other extensions without it"


def resolve(
    config: Config,
    env_key: EnvKey,
    plans: Sequence[Plan],
    work: str,
    *,
    upgrade: bool = False,
    previous: str | None = None,
    constraints: Sequence[str] = (),
    exact_graph: bool = False,
) -> tuple[Environment, str]:
    """Resolve ``plans`` together; return the environment and its annotated lock text.

    ``work`` is a private directory for uv's inputs and outputs. ``previous`` (an
    earlier lock's text) is uv's preference: versions stay where they were unless
    ``upgrade``. ``constraints`` pin distributions of an environment that ``plans``
    must join (``ensure`` of a requirement outside the config). ``exact_graph``: a lock
    file for people (``lazyext lock``): it names each distribution's direct dependencies
    even when one requirement makes it, and the environments it covers; locking the
    same config twice writes the same bytes.
    """
    try:
        return _resolve(config, env_key, plans, work, upgrade, previous, constraints, exact_graph)
    except DistributionNotFound as error:
        # An extension whose distribution (or version) does not exist fails alone: the
        # others resolve without it, and its own imports raise this error.
        missing = [plan for plan in plans if plan.key == error.cache_key]
        if not missing or len(missing) == len(plans):
            raise
        _log.warning(LEFT_OUT, error.args[0])
        rest = [plan for plan in plans if plan not in missing]
        return resolve(
            config,
            env_key,
            rest,
            work,
            upgrade=upgrade,
            previous=previous,
            constraints=constraints,
            exact_graph=exact_graph,
        )


def _resolve(
    config: Config,
    env_key: EnvKey,
    plans: Sequence[Plan],
    work: str,
    upgrade: bool,
    previous: str | None,
    constraints: Sequence[str],
    exact_graph: bool,
) -> tuple[Environment, str]:
    settings = config.settings
    on_host = host.host_distributions(settings.cache_dir)
    # A configured distribution the host has at a version that does not satisfy it is
    # served from the cache (lazyext's finder comes first for configured names).
    exempt = {
        plan.dist
        for plan in plans
        if plan.dist in on_host
        and not host.version_satisfies(on_host[plan.dist][0], plan.specifier)
    }
    pins = [
        f"{name}=={version}" for name, (version, _) in sorted(on_host.items()) if name not in exempt
    ]
    # A configured extension the host already satisfies is the host's to serve: nothing
    # to resolve or install for it (its distribution stays a constraint of the others).
    wanted = [p for p in plans if not (p.dist in on_host and p.dist not in exempt)]
    if not wanted:
        return build(config, env_key, plans, [], on_host), _EMPTY_LOCK
    if exempt:
        # The config replaces a host distribution with another version: the host's
        # extensions may depend on it, so they join the resolution, pinned to the host's
        # versions (served by the host all the same; one missing from the index fails
        # alone, as any missing distribution does).
        wanted = list(plans)
    requirements = os.path.join(work, "requirements.in")
    graph.write_lines(requirements, sorted({plan.requirement for plan in wanted}))
    host_file = os.path.join(work, "host.txt")
    graph.write_lines(host_file, [*pins, *constraints])
    output = os.path.join(work, "pylock.toml")
    if previous is not None and not upgrade:
        graph.write_lines(output, [previous.rstrip("\n")])
    # One requirement needs no graph for its closure: all it resolved to is its closure
    # (a uv run less on a new config's first import). A lock file for people
    # (``exact_graph``) gets uv's graph all the same.
    single = len({plan.requirement for plan in wanted}) == 1 and not exact_graph
    # The graph's compile from the same inputs runs beside the lock's (one uv run of
    # wall time instead of two on a first import); with an earlier lock as uv's
    # preference the two could differ, so then it runs after, pinned.
    guess = (
        graph.speculate(settings, requirements, host_file, work)
        if previous is None and not single
        else None
    )
    try:
        ran = compile_requirements(
            requirements,
            output,
            settings,
            constraints=[host_file],
            offline_first=not upgrade,
            for_file=exact_graph,
        )
    finally:
        guessed = guess() if guess is not None else None
    if not ran.ok:
        raise explain(settings, requirements, output, wanted, on_host, ran)
    text = graph.read(output)
    packages = lockfile.parse(text, "the resolved environment")
    if single:
        root = wanted[0].dist
        edges = {root: [p.name for p in packages if p.name != root]} if len(packages) > 1 else {}
    else:
        edges = graph.graph(settings, requirements, packages, work, guessed)
    text = lockfile.annotate(text, edges)
    if exact_graph:
        text = lockfile.add_environments(text)
    env = build(config, env_key, plans, lockfile.parse(text, "the resolved environment"), on_host)
    return env, text


#: The lock of an environment with nothing to install (PEP 751's required keys).
_EMPTY_LOCK = 'lock-version = "1.0"\ncreated-by = "lazyext"\n'


def build(
    config: Config,
    env_key: EnvKey,
    plans: Sequence[Plan],
    packages: Sequence[lockfile.Package],
    on_host: Mapping[DistName, tuple[str, str]],
    *,
    source: str = "",
) -> Environment:
    """The environment of ``packages``: host distributions at the locked version are
    the host's to serve (no key), the others keyed by what they are."""
    dists = []
    for package in packages:
        there = on_host.get(package.name)
        served = there is not None and there[0] == package.version
        dists.append(
            Locked(
                name=package.name,
                version=package.version,
                key=DistKey("")
                if served
                else dist_key(package.name, package.version, package.hashes, package.url),
                hashes=package.hashes,
                deps=package.deps,
                host=there[1] if served and there is not None else "",
                requirement=package.requirement(),
            )
        )
    return Environment(
        key=env_key,
        platform=config.platform,
        created_at=time.time(),
        dists=tuple(dists),
        roots=tuple((plan.key, (plan.dist,)) for plan in plans),
        source=source,
        ttl_seconds=config.settings.ttl_hours * 3600.0,
    )


def from_lock_file(
    config: Config, env_key: EnvKey, plans: Sequence[Plan], path: str, work: str
) -> tuple[Environment, str]:
    """The environment a user's lock file pins, checked against the config, the
    interpreter and the host: a version the host's copy would replace at import time is
    refused (:func:`lazyext._env.hostcheck.check_lock`), never silently contradicted."""
    text = lockfile.read(path)
    packages = lockfile.check_lock(text, path, config.settings)  # fields and sources
    lockfile.check_platform(packages, path, config.settings.allow_sdist)
    lockfile.check_covers(packages, {p.name: p.requirement for p in plans}, path)
    lockfile.check_hashes(
        packages, {p.dist: p.extension.hashes for p in plans if p.extension.hashes}, path
    )
    if not lockfile.has_graph(text):
        requirements = os.path.join(work, "requirements.in")
        graph.write_lines(requirements, sorted({plan.requirement for plan in plans}))
        text = lockfile.annotate(text, graph.graph(config.settings, requirements, packages, work))
        packages = lockfile.parse(text, path)
    on_host = host.host_distributions(config.settings.cache_dir)
    # Honoured or refused: never a lock the host's copies silently contradict.
    hostcheck.check_lock(packages, plans, on_host, path)
    source = hostcheck.lock_source(path, stored.lock_identity(path), on_host)
    env = build(config, env_key, plans, packages, on_host, source=source)
    return env, text


def single_config(plan: Plan, settings: Settings, platform: str) -> Config:
    """A config of one plan, for callers that provision outside any config."""
    key = environment_key([(plan.key, plan.requirement)], settings, platform)
    return Config(settings=settings, plans=(plan,), platform=platform, env_key=key)


def resolve_and_store(
    config: Config, root: str, previous: Environment | None, work: str, *, upgrade: bool
) -> Environment:
    plans = environment_plans(config)
    lock = config.settings.lock
    if lock:
        env, text = from_lock_file(config, config.env_key, plans, lock, work)
    else:
        old = _stored_lock_text(root, previous)
        env, text = resolve(config, config.env_key, plans, work, upgrade=upgrade, previous=old)
    check_hashes(env, plans)
    stored.store(root, env, text)
    _log.info("resolved the environment of %s (%d distributions)", config.source, len(env.dists))
    return env


def resolve_lock(
    config: Config, *, upgrade: bool = False, previous: str | None = None
) -> tuple[Environment, str]:
    """Resolve the config's environment afresh for a lock file (``lazyext lock``): the
    environment and its lock text; nothing is stored."""
    root = _trust.ensure_root(config.settings.cache_dir)
    plans = environment_plans(config)
    work = new_staging(root, config.env_key)
    try:
        env, text = resolve(
            config,
            config.env_key,
            plans,
            work,
            upgrade=upgrade,
            previous=previous,
            exact_graph=True,
        )
    finally:
        remove_tree(work)
    check_hashes(env, plans)
    return env, text


def _stored_lock_text(root: str, env: Environment | None) -> str | None:
    if env is None:
        return None
    path = os.path.join(stored.env_dir(root, env.key, env.platform), stored.LOCK_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def check_hashes(env: Environment, plans: Sequence[Plan]) -> None:
    """An extension's configured ``hashes`` must name a file the environment locked."""
    for plan in plans:
        pinned = set(plan.extension.hashes)
        locked = env.dist(plan.dist)
        if pinned and (locked is None or not pinned & set(locked.hashes)):
            raise InstallError(
                f"refusing {plan.requirement}: the files the index has for "
                f"{plan.dist} {locked.version if locked else ''} "
                f"({', '.join(locked.hashes) if locked else 'none'}) match none of the "
                "configured hashes (a substituted file, or a wrong hash in the config); "
                "nothing was installed",
                name=plan.extension.modules[0] if plan.extension.modules else plan.name,
                spec=plan.requirement,
                cache_key=plan.key,
                security=True,
            )


def joined_key(config: Config, env_key: EnvKey, plan: Plan) -> EnvKey:
    """The key of the environment of ``plan`` (not in the config) joining ``env_key``."""
    return environment_key(
        [(plan.key, plan.requirement), ("joins", env_key)], config.settings, config.platform
    )


def extended(config: Config, env: Environment, plan: Plan) -> Environment:
    """An environment for ``plan`` (not in the config) that joins ``env``: its locked
    versions are constraints, so what ``plan`` needs fits the process's namespace."""
    key = joined_key(config, env.key, plan)
    joined = replace(config, plans=(plan,), env_key=key)
    root = _trust.ensure_root(config.settings.cache_dir)
    pins = [d.requirement for d in env.dists if d.version]

    def find() -> Environment | None:
        return stored.find(root, key, config.platform, config.settings)

    def make(work: str) -> Environment:
        new, text = resolve(joined, key, [plan], work, constraints=pins)
        stored.store(root, new, text)
        return new

    return flight.get_or_make(
        root,
        [key],
        find,
        make,
        failure_key=plan.key,
        label=plan.requirement,
        doing=f"resolving {plan.requirement}",
        lock_timeout=config.settings.lock_timeout,
        failure_ttl=config.settings.failure_ttl,
    )
