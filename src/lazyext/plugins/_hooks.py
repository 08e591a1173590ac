"""The hook registry of a :class:`PluginManager`: pluggy, following each plugin's life.

A plugin that runs here is registered with its entry object, and with its package
and entry modules when they implement hooks, under the names ``<id>@<n>`` and
``<id>@<n>:<module>`` (``n`` counts the plugin's loads in this process). Disabling
it, a failed enable or uninstalling it unregisters it; a reload registers the new
version and then retires the old one.

A hook call during a reload sees the old version or the new one, never neither and
never both. pluggy takes a snapshot of a hook's implementations when the call
starts, and registering or unregistering changes that list one implementation at a
time, so a snapshot can fall between the two versions. The registry therefore
keeps which version of each plugin is current in one mapping, replaced as a whole
(one atomic assignment), and :meth:`Registry._hookexec` keeps, per plugin, the
implementations of one version of the snapshot: the current one if the snapshot has
it, else the newest it has. The steps of a reload are: register the new version
(the snapshot keeps showing the old one where both implement a hook), make it
current, unregister the old one.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

import pluggy

from lazyext.plugins._hookspecs import PROJECT, LifecycleSpec

logger = logging.getLogger("lazyext.plugins")

_OWN = "lazyext_"  # the prefix of lazyext's own hooks (LifecycleSpec)

#: A class or module of hook specifications.
Namespace = ModuleType | type
#: A class or module of hook specifications, or a list of them.
Hookspecs = Namespace | Sequence[Namespace]


class Registry(pluggy.PluginManager):
    """pluggy's ``PluginManager`` that also knows lazyext's markers and plugin versions.

    With another ``project`` than ``"lazyext"``, the application's markers are the
    project's, and :data:`lazyext.plugins.hookimpl` marks implementations of lazyext's
    own hooks (``lazyext_*``); both are recognized.
    """

    def __init__(self, project: str = PROJECT) -> None:
        super().__init__(project)
        self._lazyext = pluggy.PluginManager(PROJECT) if project != PROJECT else None
        self._changes = threading.Lock()
        self._counter = itertools.count(1)
        self._names: dict[str, tuple[str, int]] = {}  # registered name -> (plugin id, n)
        self._objects: dict[int, list[object]] = {}  # n -> the objects registered for it
        self._current: Mapping[str, int] = {}  # plugin id -> n; replaced, never changed
        self.add_hookspecs(LifecycleSpec)

    # -- lazyext's markers beside the project's --------------------------------------

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        found = super().parse_hookimpl_opts(plugin, name)
        if found is None and self._lazyext is not None and name.startswith(_OWN):
            found = self._lazyext.parse_hookimpl_opts(plugin, name)
        return found

    def parse_hookspec_opts(self, module_or_class: Namespace, name: str) -> Any:
        found = super().parse_hookspec_opts(module_or_class, name)
        if found is None and self._lazyext is not None and name.startswith(_OWN):
            found = self._lazyext.parse_hookspec_opts(module_or_class, name)
        return found

    def add_all(self, hookspecs: Hookspecs | None) -> None:
        """``add_hookspecs`` for a class or module, or each of a list of them."""
        if hookspecs is None:
            return
        for one in hookspecs if isinstance(hookspecs, Sequence) else [hookspecs]:
            self.add_hookspecs(one)

    def implements_hooks(self, obj: object) -> bool:
        return any(self.parse_hookimpl_opts(obj, name) is not None for name in dir(obj))

    # -- plugin versions ---------------------------------------------------------------

    def add(self, plugin_id: str, entry: object, modules: Iterable[object]) -> int:
        """Register one version of a plugin (not yet current); return its number.

        ``modules`` are registered too when they implement hooks (each object once).
        Raises pluggy's ``PluginValidationError`` (nothing stays registered) when an
        implementation does not match its specification."""
        with self._changes:
            n = next(self._counter)
            objects = [entry]
            for module in modules:
                if all(module is not o for o in objects) and self.implements_hooks(module):
                    objects.append(module)
            named = [(f"{plugin_id}@{n}", entry)]
            named += [(f"{plugin_id}@{n}:{getattr(m, '__name__', '')}", m) for m in objects[1:]]
            try:
                for name, obj in named:
                    # Known before pluggy lists it: see the module docstring.
                    self._names[name] = (plugin_id, n)
                    self.register(obj, name=name)
            except BaseException:
                for _name, obj in named:
                    if self.get_name(obj) is not None:
                        self.unregister(obj)
                raise
            self._objects[n] = objects
            return n

    def promote(self, plugin_id: str, n: int) -> None:
        """Make version ``n`` the one hook calls see, then retire the others."""
        with self._changes:
            self._current = {**self._current, plugin_id: n}
            self._retire(plugin_id, keep=n)

    def remove(self, plugin_id: str) -> None:
        """Unregister every version of the plugin (disabled, failed, uninstalled)."""
        with self._changes:
            self._current = {k: v for k, v in self._current.items() if k != plugin_id}
            self._retire(plugin_id, keep=None)

    def discard(self, n: int) -> None:
        """Unregister version ``n``, which never became current (its enable failed)."""
        with self._changes:
            self._unregister(n)

    def _retire(self, plugin_id: str, keep: int | None) -> None:
        versions = {n for pid, n in self._names.values() if pid == plugin_id}
        for n in sorted(versions - {keep}):
            self._unregister(n)

    def _unregister(self, n: int) -> None:
        for obj in self._objects.pop(n, ()):
            if self.get_name(obj) is not None:
                self.unregister(obj)
        # The names stay known: a snapshot taken before may still list them.

    def _hookexec(
        self,
        hook_name: str,
        methods: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, object],
        firstresult: bool,
    ) -> object | list[object]:
        if self._names:
            methods = visible(methods, self._current, self._names)
        return super()._hookexec(hook_name, methods, kwargs, firstresult)


def visible(
    methods: Sequence[pluggy.HookImpl],
    current: Mapping[str, int],
    names: Mapping[str, tuple[str, int]],
) -> list[pluggy.HookImpl]:
    """The implementations of one version per plugin: the current one if ``methods``
    has it, else the newest it has; anything else registered is kept as it is."""
    owners = [names.get(method.plugin_name) for method in methods]
    chosen: dict[str, int] = {}
    for owner in owners:
        if owner is None:
            continue
        plugin_id, n = owner
        now, best = current.get(plugin_id), chosen.get(plugin_id)
        if best is not None and best == now:
            continue  # the current version is in the snapshot: it wins
        if n == now or best is None or n > best:
            chosen[plugin_id] = n
    return [m for m, o in zip(methods, owners, strict=True) if o is None or chosen[o[0]] == o[1]]


class Events:
    """Hook calls queued during a change, made once the manager's locks are released
    (an implementation may then call the manager again without deadlocking)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._queued: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def queue(self, hook_name: str, *, at: int | None = None, **kwargs: Any) -> None:
        """Queue a hook call, last (or at the position :meth:`mark` returned)."""
        with self._lock:
            where = len(self._queued) if at is None else min(at, len(self._queued))
            self._queued.insert(where, (hook_name, kwargs))

    def mark(self) -> int:
        """Where the next call would be queued (for an event known only later)."""
        with self._lock:
            return len(self._queued)

    def flush(self) -> None:
        with self._lock:
            queued, self._queued = self._queued, []
        for hook_name, kwargs in queued:
            call(self.registry, hook_name, kwargs)


def call(registry: Registry, hook_name: str, kwargs: Mapping[str, Any]) -> None:
    """Call a lifecycle hook; what an implementation raises is logged, not raised."""
    hook: Callable[..., object] = getattr(registry.hook, hook_name)
    try:
        hook(**kwargs)
    except Exception:
        logger.exception("a %s hook implementation raised", hook_name)
