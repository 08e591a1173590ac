"""The speculative install of a new environment's first import.

A new config's first import resolves the environment (``uv pip compile``) and only
then installs the closure it locked: two uv runs one after the other. The speculation
installs the imported extension's requirement at the same time, unlocked but within
the host's versions, into a staging prefix of its own. When the lock is known, the
store keeps the speculation only if it installed exactly the locked version of every
distribution it needs; otherwise it is thrown away, never published, and the locked
install runs as usual. What is kept is verified against its wheels' RECORD files and
published like any install.

Only for an environment of one extension: its lock is what the extension resolves to
alone, and no other import of the same environment waits for this one's install. Not
where the lock must be honoured byte for byte (a lock file in the config, pinned hashes:
hash-checking mode), nor with read-only layers (an image's cache already holds what a
changed config most likely needs). Where uv would go to the network (an
index), the speculation asks uv's cache alone: no request is made twice, and a
resolution that fails (an unsatisfiable requirement) costs the index nothing more.
"""

from __future__ import annotations

import _thread
import os

from lazyext._env import host
from lazyext._env.stored import environment_plans
from lazyext._settings.config import Config, Plan
from lazyext._settings.names import DistName, canonical_name
from lazyext._store.entries import new_staging
from lazyext._store.flight import remove_tree
from lazyext._uv.command import may_use_network
from lazyext._uv.install import failure, install_requirement
from lazyext._uv.run import Ran

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


class Speculation:
    """An install running in a thread; :meth:`take` waits for it."""

    def __init__(self, staging: str, plan: Plan, config: Config) -> None:
        self.staging = staging
        self.prefix = os.path.join(staging, "prefix")
        self.plan = plan
        self.settings = config.settings
        # Local sources: one real attempt. An index: uv's cache alone, no request.
        self.local = not may_use_network(config.settings)
        self._done = _thread.allocate_lock()
        self._done.acquire()
        self.ran: Ran | None = None

    def run(self, constraints: str) -> None:
        try:
            self.ran = install_requirement(
                self.plan.requirement, self.prefix, constraints, self.settings, online=self.local
            )
        except BaseException:  # uv did not run: the locked install says why
            self.ran = None
        finally:
            self._done.release()

    def take(self, pins: Sequence[tuple[DistName, str]], name: str | None) -> str | None:
        """The prefix, if it holds every one of ``pins`` (name, version) at that version
        (other distributions it holds, the host's, are left out when it is split);
        else ``None``: the speculation is not used.

        A speculation from local sources that failed (a broken wheel, no space, a hang
        past install-timeout) raises its error: the environment resolved, so the locked
        install of the same versions from the same sources would fail the same way, and
        uv runs once per failure."""
        with self._done:
            pass
        ran = self.ran
        if ran is None or not ran.ok:
            if ran is not None and self.local:
                raise failure(ran, self.plan.requirement, name, self.plan.key, self.settings)
            return None
        installed = _installed(self.prefix)
        if any(installed.get(name) != version for name, version in pins):
            return None
        return self.prefix

    def discard(self) -> None:
        with self._done:
            pass
        remove_tree(self.staging)


def start(plan: Plan, config: Config, root: str) -> Speculation | None:
    """Install ``plan``'s requirement speculatively, if its environment may use it."""
    settings = config.settings
    if settings.lock or settings.cache_read or plan.extension.hashes or not plan.marker_ok:
        return None
    if [p.key for p in environment_plans(config)] != [plan.key]:
        return None
    staging = new_staging(root, plan.key)
    constraints = os.path.join(staging, "host.txt")
    with open(constraints, "w", encoding="utf-8") as handle:
        for name, (version, _where) in sorted(host.host_distributions(root).items()):
            if name != plan.dist:  # the config may replace the host's copy of its own
                handle.write(f"{name}=={version}\n")
    speculation = Speculation(staging, plan, config)
    _thread.start_new_thread(speculation.run, (constraints,))
    return speculation


#: How deep a site directory lies under a prefix (``lib/python3.X/site-packages``).
_SITE_DEPTH = 4


def _installed(prefix: str) -> dict[DistName, str]:
    """``{name: version}`` of the ``.dist-info`` directories of ``prefix``'s site dirs."""
    found: dict[DistName, str] = {}
    skip = len(prefix.rstrip(os.sep)) + 1
    for base, directories, _files in os.walk(prefix):
        for directory in directories:
            if directory.endswith(".dist-info"):
                name, _, version = directory[: -len(".dist-info")].rpartition("-")
                found[canonical_name(name)] = version
        deep = base[skip:].count(os.sep) + 1 >= _SITE_DEPTH if base[skip:] else False
        # A site directory's packages are not site directories: only look above them.
        directories[:] = [] if deep or found else directories
    return found
