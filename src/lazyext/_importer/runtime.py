"""The per-process state of an activation: which names are owned, what is active.

An entry becomes *active* in a process once: its ``.pth`` files are processed, its
top-level names are handed to the finders and its target joins the spawn view (see
:mod:`.view`). Everything here is guarded by one lock, since imports arrive from any
thread.

The warm path (a cached import) stays in this stage and the settings: the stages that
resolve and install (lazyext._env.provision, the store's install, uv) load only when an
import misses the cache (~25 ms of modules; benchmarks/README.md, "Cold path profile").
And the modules of a hit (the stored environment, the store's entries and leases, the
host's checks, ``.pth`` processing) load with the first import lazyext serves, not
with ``import lazyext`` and ``activate()``: 12 modules, 2.9 ms of a 5.7 ms
``import lazyext`` (benchmark B1, best of 15 on a 2-core VM).

(Past 400 lines: one class whose state is guarded by one lock, and those function-level
imports; the hit path's helpers that need no state live in :mod:`.cached` and
:mod:`.finder`.)
"""

from __future__ import annotations

import _thread
import os
import sys

# importlib.machinery's classes, without importing importlib (see .finder).
from _frozen_importlib import ModuleSpec
from _frozen_importlib_external import PathFinder

from lazyext import _trust
from lazyext._importer import finder, view
from lazyext._settings.config import Config, Plan, Settings
from lazyext._settings.names import DistKey, ReqKey, canonical_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from lazyext._env.stored import Environment, Locked
    from lazyext._store.entries import Entry


class Runtime:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._lock = _thread.RLock()
        self.front = finder.LazyFinder(self)
        self.back = finder.FallbackFinder()
        self.active: dict[DistKey, Entry] = {}  # the entries serving this process
        self.installed: dict[ReqKey, list[Entry]] = {}  # plan key -> its activated closure
        self.host_served: dict[str, bool] = {}  # "key:name" -> the host's install serves it
        self._env: Environment | None = None  # the config's environment, once read
        self._published_entries: dict[DistKey, Entry] = {}  # for metadata
        # (environment, top-level name -> its cached distributions), once read (.cached)
        self.cached_names: tuple[Environment | None, dict[str, tuple[Locked, ...]]] | None = None
        self._stale = False  # the environment expired (TTL)
        self._refreshing = False  # a background refresh was started
        self.added_paths: list[str] = []
        # generation path -> (thread running its .pth lines, lock released when done)
        self._activating: dict[str, tuple[int, Any]] = {}
        self.back.miss = self.cached_spec
        self.configure(config)

    def after_fork(self) -> None:
        """In a forked child: the threads that held the lock or were running ``.pth``
        lines do not exist there, so neither is waited for."""
        self._lock = _thread.RLock()
        self._activating = {}

    @property
    def settings(self) -> Settings:
        return self.config.settings

    def configure(self, config: Config) -> None:
        with self._lock:
            if config.env_key != self.config.env_key:
                self._env = None
                self._published_entries = {}
            self.config = config
            owned: dict[str, Plan] = {}
            for plan in config.plans:
                if plan.extension.package is not None and plan.extension.enabled:
                    for module in plan.extension.modules:
                        owned[module] = plan
            self.front.owned = owned
            # The packages above dotted names (``zope`` of ``zope.interface``): served as
            # namespaces when nothing else provides them.
            self.front.parents = {
                module.rpartition(".")[0] for module in owned if "." in module
            } | {".".join(m.split(".")[:i]) for m in owned for i in range(1, m.count("."))}
        view.prepare(config.settings.cache_dir, sorted({m.split(".")[0] for m in owned}))
        early = sorted(
            name
            for name in owned
            if name in sys.modules
            and not str(getattr(sys.modules[name], "__file__", None) or "").startswith(
                config.settings.cache_dir
            )
        )
        if early:
            # Only then: the warning needs logging (~5 ms).
            from lazyext._importer.early import warn_already_imported

            warn_already_imported(early)

    def install_finders(self) -> None:
        finder.insert_first(self.front)
        finder.append_last(self.back)

    def uninstall(self) -> None:
        from lazyext._store import leases  # (module docstring: a hit's modules)

        finder.remove(self.front)
        finder.remove(self.back)
        with self._lock:
            for entry in self.added_paths:
                while entry in sys.path:
                    sys.path.remove(entry)
            view.withdraw()
            leases.release_all()
            self.added_paths.clear()
            self.active.clear()
            self.installed.clear()
            self.back.names.clear()

    # -- called by the finder, under the global import lock: no installs here --------

    def spec_for(self, fullname: str, plan: Plan) -> ModuleSpec | None:
        from lazyext._env import host  # a hit's modules, loaded by the first (docstring)
        from lazyext._store import guard

        if guard.busy():
            return None  # lazyext's own imports while provisioning never recurse
        entries = self.installed.get(plan.key)
        if entries is None:
            if not plan.marker_ok:
                own = host.own_prefixes(self.settings) if "." in fullname else ()
                if host.host_spec(fullname, own) is not None:
                    return None  # the requirement does not apply: not lazyext's name here
                raise ModuleNotFoundError(
                    f"No module named {fullname!r}: the requirement {plan.requirement!r} does "
                    "not apply to this interpreter (its marker is false)",
                    name=fullname,
                )
            if self._served_by_host(plan, fullname):
                return None
            entries = self.cached_closure(plan)
            if self._stale and self.settings.expired == "reinstall":
                entries = None  # the seed's TTL: an expired install is replaced before use
            if entries is None or any(e.pth and e.key not in self.active for e in entries):
                # Cold (or .pth files to run): the loader does it outside the global lock.
                # Not claimed to be a package: the loader gives the spec the installed
                # module's own locations before the import system reads them, and
                # ``python -m`` of a single-file module must see a module.
                loader: Any = finder.ProvisionLoader(self, plan)
                return ModuleSpec(fullname, loader)
            for entry in entries:
                self.activate_entry(entry)
            with self._lock:
                self.installed[plan.key] = entries
        return finder.real_spec(fullname, entries)

    def parent_spec(self, fullname: str) -> ModuleSpec | None:
        """A namespace for ``zope`` of a configured ``zope.interface`` if nobody has one."""
        from lazyext._store import guard  # (module docstring: a hit's modules)

        if guard.busy():
            return None
        parent, _, _ = fullname.rpartition(".")
        search = getattr(sys.modules.get(parent), "__path__", None) if parent else None
        if PathFinder.find_spec(fullname, search) is not None:
            return None  # the host's (or an active install's) package or portions
        spec = ModuleSpec(fullname, None, is_package=True)
        spec.submodule_search_locations = self._portions(fullname)
        return spec

    def _portions(self, fullname: str) -> list[str]:
        parts = fullname.split(".")
        with self._lock:
            targets = [entry.target for entry in self.active.values()]
        return [path for path in (os.path.join(t, *parts) for t in targets) if os.path.isdir(path)]

    def _extend_parents(self, fullname: str) -> None:
        """Give the packages above a dotted name the portions of the active installs.

        A pkgutil-style package (``__path__`` a list, ``extend_path``) or one created
        by :meth:`parent_spec` does not recompute its ``__path__``; PEP 420 namespaces
        do, through the view's finder.
        """
        parts = fullname.split(".")
        for depth in range(1, len(parts)):
            name = ".".join(parts[:depth])
            path = getattr(sys.modules.get(name), "__path__", None)
            if isinstance(path, list):
                for portion in self._portions(name):
                    if portion not in path:
                        path.append(portion)

    def environment(self) -> Environment | None:
        """The config's stored environment (read once per process), or ``None``."""
        from lazyext._env import host, stored  # (module docstring: a hit's modules)

        env = self._env
        if env is None:
            root = _trust.ensure_root(self.settings.cache_dir)
            env = stored.find(root, self.config.env_key, self.config.platform, self.settings)
            lock = self.settings.lock
            if (
                env is not None
                and lock
                and not host.lock_current(env.source, stored.lock_identity(lock))
            ):
                env = None  # the lock file or the host changed: the loader reads it again
            self._env = env
            if env is not None and env.expired() and not self.settings.offline:
                self._stale = True
                if self.settings.expired == "refresh-in-background":
                    self._refresh_in_background()
        return env

    def _refresh_in_background(self) -> None:
        """Stale-while-revalidate: serve the expired environment now, resolve it again
        in one background thread (:mod:`.refresh`)."""
        if self._refreshing:
            return
        self._refreshing = True
        from lazyext._importer.refresh import start  # an expired environment only

        def in_use() -> set[ReqKey]:
            with self._lock:
                return set(self.installed)

        start(self.config, in_use)

    def cached_closure(self, plan: Plan) -> list[Entry] | None:
        """The published entries of ``plan``'s closure, or ``None`` if any is missing."""
        from lazyext._store.layers import find_entry  # (module docstring: a hit's modules)

        env = self.environment()
        closure = None if env is None else env.closure_of(plan.key)
        if closure is None:
            return None
        root = _trust.ensure_root(self.settings.cache_dir)
        entries = []
        for locked in closure:
            if locked.host:
                continue
            entry = self.active.get(locked.key) or find_entry(
                root, locked.key, self.config.platform, self.settings
            )
            if entry is None:
                return None
            entries.append(entry)
        return _main_first(entries, plan)

    def _served_by_host(self, plan: Plan, fullname: str) -> bool:
        from lazyext._env import host  # (module docstring: a hit's modules)

        cache_key = f"{plan.key}:{fullname}"
        cached = self.host_served.get(cache_key)
        if cached is None:
            # The host cannot import it (the common case): not the host's. A dotted name
            # is asked in its parent's __path__, as its import asks (host.host_spec).
            own = host.own_prefixes(self.settings) if "." in fullname else ()
            spec = host.host_spec(fullname, own)
            if spec is None:
                cached = False
            else:  # (a spawn child's inherited view is the cache's, not the host's)
                own = own or host.own_prefixes(self.settings)
                cached = host.serves(plan.dist, plan.specifier, fullname, spec, own)
            self.host_served[cache_key] = cached
        return cached

    # -- called outside the global import lock ------------------------------------

    def provision_and_activate(
        self, plan: Plan, *, name: str | None = None, refresh: bool = False
    ) -> list[Entry]:
        """Install ``plan``'s closure if needed and make it serve this process."""
        entries = None if refresh else self.cached_closure(plan)
        if self._stale and self.settings.expired == "reinstall":
            refresh, entries, self._stale = True, None, False
        if entries is None:
            # The cold path: resolving and installing load only now (module docstring).
            from lazyext._env.provision import install

            installed = install(plan, self.config, name=name, refresh=refresh)
            if installed.environment.key == self.config.env_key:
                self._env = installed.environment
            entries = _main_first(list(installed.entries), plan)
        for entry in entries:
            self.activate_entry(entry)
        with self._lock:
            self.installed[plan.key] = entries
        for module in plan.extension.modules:
            if "." in module:
                self._extend_parents(module)
        # Path-entry finders cache directory listings and "no finder" answers, and
        # namespace packages their portions. PathFinder's own invalidation, not
        # importlib's: that would also reach lazyext's finder, whose invalidate_caches
        # means "a user asks to retry failed installs now".
        view.invalidate_path_finders()  # 3.13: without importlib.metadata
        return entries

    def activate_entry(self, entry: Entry) -> None:
        """Make ``entry`` serve this process: names, ``.pth`` files, spawn view.

        ``self._lock`` is never held while ``.pth`` lines run: they may import, which
        takes the global import lock and module locks, while ``find_spec`` in another
        thread holds the global import lock and activates entries (those without
        ``.pth`` files) under ``self._lock``. A thread that finds another one running
        the entry's ``.pth`` lines waits for it (only loaders get there, outside the
        global import lock); the thread running them passes through (a line importing
        the entry's own modules).
        """
        with self._lock:
            current = self.active.get(entry.key)
            if current is not None and current.path == entry.path:
                return
            pending = self._activating.get(entry.path)
            if pending is None:
                done = _thread.allocate_lock()
                done.acquire()
                self._activating[entry.path] = (_thread.get_ident(), done)
                if current is not None:
                    self._forget_names(current)
                target = str(entry.target)
                owned = self.front.owned
                for name in entry.top_level:
                    if name not in owned:
                        self.back.names.setdefault(name, []).append(target)
        if pending is not None:
            thread, running = pending
            timeout = self.settings.lock_timeout
            if thread != _thread.get_ident() and running.acquire(timeout=timeout):
                running.release()
            return
        from lazyext._store import leases  # (module docstring: a hit's modules)
        from lazyext._store.entries import note_use

        try:
            note_use(entry.path, self.settings.cache_dir)
            leases.hold(entry.path)  # gc keeps it while this process lives
            if entry.pth:
                from lazyext._importer import pth  # an install with .pth files only

                added = pth.process(
                    entry.target,
                    entry.pth,
                    strict=self.settings.strict_pth,
                    label=entry.requirement,
                )
                with self._lock:
                    self.added_paths += added
            view.add(self.settings.cache_dir, entry.target)
        finally:
            with self._lock:
                self.active[entry.key] = entry
                del self._activating[entry.path]
            done.release()

    def forget(self, plan_key: ReqKey, dist_keys: Iterable[DistKey]) -> None:
        """Stop serving an extension and the distributions of its closure (invalidated):
        the next import activates fresh entries."""
        with self._lock:
            self.installed.pop(plan_key, None)
            for key in dist_keys:
                for other, entries in list(self.installed.items()):
                    if any(entry.key == key for entry in entries):
                        del self.installed[other]
                self._published_entries.pop(key, None)
                entry = self.active.pop(key, None)
                if entry is not None:
                    self._forget_names(entry)

    def forget_environment(self) -> None:
        """The stored environment changed (a refresh or a new lock): read it again."""
        with self._lock:
            self._env = None
            self._published_entries = {}

    def _forget_names(self, entry: Entry) -> None:
        target = str(entry.target)
        view.drop(target)
        for name in entry.top_level:
            targets = self.back.names.get(name)
            if targets and target in targets:
                targets.remove(target)
                if not targets:
                    del self.back.names[name]

    def cached_spec(self, fullname: str) -> ModuleSpec | None:
        """The fallback finder's misses: names of cached installs not activated (.cached)."""
        if "." in fullname:
            return None
        built = self.cached_names
        if built is not None and built[0] is self._env and fullname not in built[1]:
            return None  # every failing import but the first: one dict lookup
        # Loaded by the first import that no finder serves (~0.2 ms of modules).
        from lazyext._importer import cached

        return cached.spec_for(self, fullname)

    def _published(self, key: DistKey) -> Entry | None:
        from lazyext._store.layers import find_entry  # (module docstring: a hit's modules)

        found = self._published_entries.get(key)
        if found is None:
            root = _trust.ensure_root(self.settings.cache_dir)
            found = find_entry(root, key, self.config.platform, self.settings)
            if found is not None:
                self._published_entries[key] = found
        return found

    def active_targets(self) -> list[str]:
        with self._lock:  # other threads' imports activate and retire entries
            entries = list(self.active.values())
        return [str(entry.target) for entry in entries]


def _main_first(entries: list[Entry], plan: Plan) -> list[Entry]:
    """The extension's own distribution first: its names win a lookup over the closure."""
    own = [e for e in entries if any(canonical_name(dist) == plan.dist for dist, _ in e.resolved)]
    return own + [e for e in entries if e not in own]
