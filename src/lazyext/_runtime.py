"""The per-process state of an activation: which names are owned, what is active.

An entry becomes *active* in a process once: its ``.pth`` files are processed, its
top-level names are handed to the finders and its target joins the spawn view (see
:mod:`lazyext._view`). Everything here is guarded by one lock, since imports arrive
from any thread.
"""

from __future__ import annotations

import _thread
import sys
from importlib.machinery import ModuleSpec, PathFinder

from lazyext import _cache, _finder, _leases

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lazyext._cache import Entry
    from lazyext._config import Config, Plan, Settings


class Runtime:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._lock = _thread.RLock()
        self.front = _finder.LazyFinder(self)
        self.back = _finder.FallbackFinder()
        self.active: dict[str, Entry] = {}  # key -> the entry serving this process
        self.host_served: dict[str, bool] = {}  # key -> the host's install satisfies it
        self.added_paths: list[str] = []
        # generation path -> (thread running its .pth lines, lock released when done)
        self._activating: dict[str, tuple[int, Any]] = {}
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
            self.config = config
            owned: dict[str, Plan] = {}
            for plan in config.plans:
                if plan.extension.package is not None and plan.extension.enabled:
                    for module in plan.extension.modules:
                        owned[module] = plan
            self.front.owned = owned
        early = sorted(
            name
            for name in owned
            if name in sys.modules
            and not str(getattr(sys.modules[name], "__file__", None) or "").startswith(
                config.settings.cache_dir
            )
        )
        if early:
            _warn_already_imported(early)

    def install_finders(self) -> None:
        _finder.insert_first(self.front)
        _finder.append_last(self.back)

    def uninstall(self) -> None:
        _finder.remove(self.front)
        _finder.remove(self.back)
        with self._lock:
            for entry in self.added_paths:
                while entry in sys.path:
                    sys.path.remove(entry)
            from lazyext import _view

            _view.withdraw()
            _leases.release_all()
            self.added_paths.clear()
            self.active.clear()
            self.back.names.clear()

    # -- called by the finder, under the global import lock: no installs here --------

    def spec_for(self, fullname: str, plan: Plan) -> ModuleSpec | None:
        from lazyext._guards import busy

        if busy():
            return None  # lazyext's own imports while provisioning never recurse
        entry = self.active.get(plan.key)
        if entry is None:
            if not plan.marker_ok:
                if PathFinder.find_spec(fullname) is not None:
                    return None  # the requirement does not apply: not lazyext's name here
                raise ModuleNotFoundError(
                    f"No module named {fullname!r}: the requirement {plan.requirement!r} does "
                    "not apply to this interpreter (its marker is false)",
                    name=fullname,
                )
            if self._served_by_host(plan, fullname):
                return None
            root = _cache.ensure_root(self.settings.cache_dir)
            entry = _cache.find_entry(root, plan.key, self.config.platform, self.settings)
            if entry is None or entry.pth:
                # Cold (or .pth files to run): the loader does it outside the global lock.
                loader: Any = _finder.ProvisionLoader(self, plan)
                return ModuleSpec(fullname, loader, is_package=True)
            self.activate_entry(entry)
        return _finder.real_spec(fullname, entry)

    def _served_by_host(self, plan: Plan, fullname: str) -> bool:
        cache_key = f"{plan.key}:{fullname}"
        cached = self.host_served.get(cache_key)
        if cached is None:
            from lazyext._host import serves

            cached = serves(plan.dist, plan.specifier, fullname)
            self.host_served[cache_key] = cached
        return cached

    # -- called outside the global import lock ------------------------------------

    def provision_and_activate(
        self, plan: Plan, *, name: str | None = None, refresh: bool = False
    ) -> Entry:
        if not refresh:
            root = _cache.ensure_root(self.settings.cache_dir)
            cached = _cache.find_entry(root, plan.key, self.config.platform, self.settings)
            if cached is not None:
                self.activate_entry(cached)
                return cached
        from lazyext._provision import provision

        entry = provision(plan, self.settings, self.config.platform, name=name, refresh=refresh)
        self.activate_entry(entry)
        # Path-entry finders cache directory listings and "no finder" answers, and
        # namespace packages their portions. PathFinder's own invalidation, not
        # importlib's: that would also reach lazyext's finder, whose invalidate_caches
        # means "a user asks to retry failed installs now".
        from lazyext._view import invalidate_path_finders  # 3.13: without importlib.metadata

        invalidate_path_finders()
        return entry

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
        try:
            _cache.note_use(entry.path, self.settings.cache_dir)
            _leases.hold(entry.path)  # gc keeps it while this process lives (issue 12 #3)
            if entry.pth:
                from lazyext import _pth

                added = _pth.process(
                    entry.target,
                    entry.pth,
                    strict=self.settings.strict_pth,
                    label=entry.requirement,
                )
                with self._lock:
                    self.added_paths += added
            from lazyext import _view

            _view.add(self.settings.cache_dir, entry.target)
        finally:
            with self._lock:
                self.active[entry.key] = entry
                del self._activating[entry.path]
            done.release()

    def forget(self, key: str) -> None:
        """Stop serving ``key`` (invalidated): the next import activates a fresh entry."""
        with self._lock:
            entry = self.active.pop(key, None)
            if entry is not None:
                self._forget_names(entry)

    def _forget_names(self, entry: Entry) -> None:
        target = str(entry.target)
        from lazyext import _view

        _view.drop(target)
        for name in entry.top_level:
            targets = self.back.names.get(name)
            if targets and target in targets:
                targets.remove(target)
                if not targets:
                    del self.back.names[name]

    def active_targets(self) -> list[str]:
        with self._lock:  # other threads' imports activate and retire entries
            entries = list(self.active.values())
        return [str(entry.target) for entry in entries]


def _warn_already_imported(names: list[str]) -> None:
    """Modules imported before activate() stay what they are: say so (FAULTS 67)."""
    import logging

    for name in names:
        module = sys.modules[name]
        logging.getLogger("lazyext").warning(
            "%s was imported from %s before lazyext.activate(); that copy stays in use "
            "even if it does not satisfy the configured requirement",
            name,
            getattr(module, "__file__", None) or "a built-in location",
        )
