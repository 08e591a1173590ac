"""One environment per process: the locked distributions of a config and their closures.

The enabled extensions of a config are resolved together (see :mod:`.resolve`)
into one set of distributions, one version each. Each distribution is installed once,
as its own cache entry keyed by what was installed (name, version, the hashes of its
files), never by which index served it: two extensions, two configs or two machines
that lock the same version share the entry. An extension is the closure of the
distributions its requirement needs; the first import of one of its names installs
that closure only.

Distributions that the host environment already provides at the locked version are
*host* distributions: never installed, the host's copy serves them.

The resolved environment is kept in the cache, marshalled, under
``envs/<env key>/<platform>/env.marshal`` (with the ``pylock.toml`` it came from beside
it), so the warm path reads one small file and never parses TOML.
"""

from __future__ import annotations

import marshal
import os
import stat
import time

from lazyext import _columns, _trust
from lazyext._record import from_columns, record
from lazyext._settings.config import Config, Plan, Settings
from lazyext._settings.names import DistKey, DistName, EnvKey, ReqKey
from lazyext._store import layers
from lazyext._store.entries import private_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, Final

ENV_SCHEMA: Final = 1
ENV_FILE: Final = "env.marshal"
LOCK_FILE: Final = "pylock.toml"
_MAX_ENV_BYTES: Final = 16 * 1024 * 1024


@record
class Locked:
    """One distribution of an environment, at its locked version."""

    name: DistName
    version: str
    key: DistKey  # the cache key of its install ("" for a host distribution)
    hashes: tuple[str, ...]  # "sha256:<hex>" of every file the lock lists for it
    deps: tuple[DistName, ...] = ()  # the distributions it requires
    host: str = ""  # where the host provides it at this version; "" when installed
    requirement: str = ""  # what uv installs: "name==version" or "name @ url"


@record
class Environment:
    """A resolved environment: its distributions and which extension needs which."""

    key: EnvKey
    platform: str
    created_at: float
    dists: tuple[Locked, ...]
    roots: tuple[tuple[ReqKey, tuple[DistName, ...]], ...]  # (plan key, its distributions)
    source: str = ""  # the user's lock file, or "" when lazyext resolved it
    ttl_seconds: float = 0.0

    def dist(self, name: DistName) -> Locked | None:
        for locked in self.dists:
            if locked.name == name:
                return locked
        return None

    def roots_of(self, plan_key: ReqKey) -> tuple[DistName, ...] | None:
        for key, names in self.roots:
            if key == plan_key:
                return names
        return None

    def closure(self, names: Iterable[DistName]) -> tuple[Locked, ...]:
        """The distributions that ``names`` need, themselves included, in lock order."""
        by_name = {locked.name: locked for locked in self.dists}
        seen: set[DistName] = set()
        stack = [name for name in names if name in by_name]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            stack.extend(dep for dep in by_name[name].deps if dep in by_name and dep not in seen)
        return tuple(locked for locked in self.dists if locked.name in seen)

    def closure_of(self, plan_key: ReqKey) -> tuple[Locked, ...] | None:
        roots = self.roots_of(plan_key)
        return None if roots is None else self.closure(roots)

    def pulled_in_by(self, name: DistName) -> list[ReqKey]:
        """The plan keys whose closure contains distribution ``name``."""
        return [
            key for key, roots in self.roots if any(d.name == name for d in self.closure(roots))
        ]

    def expired(self, now: float | None = None) -> bool:
        """A lazyext-resolved environment is re-resolved after the TTL (a user's lock never).

        An environment dated in the future (the clock was stepped back) counts as
        expired from now: it would otherwise never expire.
        """
        if self.source or self.ttl_seconds <= 0:
            return False
        now = time.time() if now is None else now
        return self.created_at > now + 300.0 or now - self.created_at > self.ttl_seconds


def environment_plans(config: Config) -> list[Plan]:
    """The plans that make up a config's environment: enabled, installable, applicable."""
    return [
        plan
        for plan in config.plans
        if plan.extension.package is not None and plan.extension.enabled and plan.marker_ok
    ]


def lock_identity(path: str) -> str:
    """What tells a user's lock file changed: its mtime and size."""
    try:
        info = os.stat(path)
    except OSError:
        return ""
    return f"{path}#{info.st_mtime_ns}:{info.st_size}"


def env_dir(root: str, env_key: EnvKey, platform: str) -> str:
    return os.path.join(root, "envs", env_key, platform)


def encode(env: Environment) -> dict[str, Any]:
    return {
        "schema": ENV_SCHEMA,
        "key": env.key,
        "platform": env.platform,
        "created_at": env.created_at,
        "source": env.source,
        "ttl_seconds": env.ttl_seconds,
        "dists": [
            (d.name, d.version, d.key, list(d.hashes), list(d.deps), d.host, d.requirement)
            for d in env.dists
        ],
        "roots": [(key, list(names)) for key, names in env.roots],
    }


def decode(data: Any) -> Environment:
    """Build an environment from marshalled data, checking every value (raise ValueError).

    Checked a column at a time (:mod:`lazyext._columns`): this runs on the first import
    of every process, with one row per locked distribution.
    """
    if not isinstance(data, dict) or data.get("schema") != ENV_SCHEMA:
        raise ValueError("unknown environment schema")
    table = _columns.rows(data["dists"], 7)
    names, versions, keys, hashes, deps, hosts, reqs = _columns.columns(table, 7)
    roots = _columns.rows(data["roots"], 2)
    root_keys, root_names = _columns.columns(roots, 2)
    if not (
        _columns.strs([*names, *versions, *hosts, *reqs, data["source"]])
        and _columns.keys_or_empty([*keys, *root_keys, data["key"]], shortest=16)
        and _columns.string_lists([*hashes, *deps, *root_names])
        and _columns.file_names([data["platform"]])
        and _columns.typed([data["created_at"], data["ttl_seconds"]], int, float)
    ):
        raise ValueError("a value of the stored environment is not valid")
    return Environment(
        key=data["key"],
        platform=data["platform"],
        created_at=float(data["created_at"]),
        dists=tuple(
            from_columns(
                Locked,
                (
                    names,
                    versions,
                    keys,
                    [*map(tuple, hashes)],
                    [*map(tuple, deps)],
                    hosts,
                    reqs,
                ),
            )
        ),
        roots=tuple((key, tuple(names)) for key, names in roots),
        source=data["source"],
        ttl_seconds=float(data["ttl_seconds"]),
    )


def find(root: str, env_key: EnvKey, platform: str, settings: Settings) -> Environment | None:
    """The newest stored environment in the read-only layers (``cache-read``) or the
    writable cache; ``None`` if none has it."""
    best = load(root, env_key, platform)
    for layer in settings.cache_read:
        found = _from_layer(layer, env_key, platform, settings.trust_group)
        if found is not None and (best is None or found.created_at >= best.created_at):
            best = found
    return best


def _from_layer(
    layer: str, env_key: EnvKey, platform: str, trust_group: bool
) -> Environment | None:
    if not layers.check_layer(layer, trust_group=trust_group):
        return None
    directory = env_dir(layer, env_key, platform)
    if not os.path.lexists(directory):
        return None
    # Every directory from / down to the environment's, by the layer's trust rule.
    _trust.check_dir(directory, what=layers.WHAT, root_owned_ok=True, trust_group=trust_group)
    return load(
        layer, env_key, platform, owners=(0, os.geteuid()) if hasattr(os, "geteuid") else ()
    )


def load(
    root: str, env_key: EnvKey, platform: str, *, owners: tuple[int, ...] | None = None
) -> Environment | None:
    """The stored environment, or ``None`` if missing, foreign or damaged."""
    if owners is None:
        owners = (os.geteuid(),) if hasattr(os, "geteuid") else ()
    path = os.path.join(env_dir(root, env_key, platform), ENV_FILE)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_size > _MAX_ENV_BYTES
            or (owners and info.st_uid not in owners)
            or info.st_mode & 0o022
        ):
            return None
        with os.fdopen(descriptor, "rb") as handle:
            descriptor = -1
            data = handle.read()
        env = decode(marshal.loads(data))
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        return None
    finally:
        if descriptor >= 0:
            os.close(descriptor)
    if (env.key, env.platform) != (env_key, platform):
        return None  # copied here from another environment: not what was asked for
    return env


def with_root(root: str, plan_key: ReqKey, platform: str) -> Environment | None:
    """The newest stored environment that has ``plan_key`` among its extensions (any
    config's: ``invalidate`` of a requirement outside the active config)."""
    best = None
    for env in _stored(root, platform):
        if env.roots_of(plan_key) is not None and (
            best is None or env.created_at > best.created_at
        ):
            best = env
    return best


def _stored(root: str, platform: str | None = None) -> list[Environment]:
    found: list[Environment] = []
    base = os.path.join(root, "envs")
    try:
        keys = os.listdir(base)
    except OSError:
        return found
    for env_key in keys:
        try:
            platforms = os.listdir(os.path.join(base, env_key))
        except OSError:
            continue
        for name in platforms:
            if platform is None or name == platform:
                env = load(root, EnvKey(env_key), name)
                if env is not None:
                    found.append(env)
    return found


def referenced_keys(root: str) -> set[DistKey]:
    """The cache keys of every distribution a stored environment names (for gc)."""
    return {locked.key for env in _stored(root) for locked in env.dists if locked.key}


def store(root: str, env: Environment, pylock: str) -> str:
    """Publish ``env`` (and the lock text it came from) atomically; return its directory."""
    directory = private_dir(root, "envs", env.key, env.platform)
    nonce = f".{os.getpid()}.{os.urandom(4).hex()}.tmp"
    for name, payload in ((LOCK_FILE, pylock.encode()), (ENV_FILE, marshal.dumps(encode(env)))):
        temporary = os.path.join(directory, name + nonce)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, os.path.join(directory, name))  # env.marshal last: the commit
    return directory
