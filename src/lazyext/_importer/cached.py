"""Every top-level name of the environment's cached distributions, not only the configured.

lazyext's first finder serves the configured names; the fallback finder, last, the other
top-level names of the installs this process activated. What is left: a name of a
distribution of the active environment that is in the cache but that this process has
not activated, such as the module an entry point names (hypothesis's ``pytest11``
plugin is the top-level module ``_hypothesis_pytestplugin``, which no configured name
covers), or a dependency imported before the extension that pulls it in. Such a name
imports too, activating its distribution's closure first, as an extension's import
activates its own; ``importlib.metadata`` lists the same distributions
(:mod:`.metadata`), so an entry point it lists loads.

Reached only by an import that every other finder missed (the fallback finder's
misses). The first one in a process reads the entries of the environment's
distributions that it has not activated (one ``entry.marshal`` each) into a map from
top-level name to distributions; every later one is a dict lookup
(:meth:`lazyext._importer.runtime.Runtime.cached_spec`).
"""

from __future__ import annotations

import _thread

# importlib.machinery's classes, without importing importlib (see .finder).
from _frozen_importlib import ModuleSpec
from _frozen_importlib_external import PathFinder

from lazyext._importer import finder
from lazyext._store import guard

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

    from lazyext._env.stored import Locked
    from lazyext._importer.runtime import Runtime
    from lazyext._store.entries import Entry

_building: set[int] = set()  # threads reading the entries (their own imports pass)


def spec_for(runtime: Runtime, fullname: str) -> ModuleSpec | None:
    """The spec of ``fullname`` if a cached distribution of the environment provides it."""
    if guard.busy() or _thread.get_ident() in _building:
        return None
    dists = names(runtime).get(fullname)
    env = runtime._env
    if not dists or env is None:
        return None
    entries: list[Entry] = []
    for locked in env.closure([dist.name for dist in dists]):
        if locked.host:
            continue
        entry = runtime.active.get(locked.key) or runtime._published(locked.key)
        if entry is None:
            return None  # part of the closure is not in the cache: an extension's to install
        entries.append(entry)
    keys = {dist.key for dist in dists}
    entries.sort(key=lambda entry: entry.key not in keys)  # its own first, as _main_first
    if any(entry.pth and entry.key not in runtime.active for entry in entries):
        # .pth lines may import: they run in the loader, outside the global import lock.
        loader: Any = ClosureLoader(runtime, entries)
        return ModuleSpec(fullname, loader)
    for entry in entries:
        runtime.activate_entry(entry)
    return PathFinder.find_spec(fullname, [entry.target for entry in entries])


def names(runtime: Runtime) -> dict[str, tuple[Locked, ...]]:
    """Top-level name -> the cached distributions of the environment that provide it."""
    ident = _thread.get_ident()
    _building.add(ident)
    try:
        env = runtime.environment()
        built = runtime.cached_names
        if built is not None and built[0] is env:
            return built[1]
        found: dict[str, list[Locked]] = {}
        owned = runtime.front.owned
        for locked in env.dists if env is not None else ():
            if locked.host or not locked.key:
                continue
            entry = runtime.active.get(locked.key) or runtime._published(locked.key)
            for name in entry.top_level if entry is not None else ():
                if name not in owned:
                    found.setdefault(name, []).append(locked)
    except OSError:  # an unsafe or unreadable cache (lazyext's errors are OSErrors there)
        env, found = runtime._env, {}  # serves nothing; the import goes on to fail as usual
    finally:
        _building.discard(ident)
    result = {name: tuple(dists) for name, dists in found.items()}
    runtime.cached_names = (env, result)
    return result


class ClosureLoader:
    """Activates a closure whose ``.pth`` files must run, then loads the module."""

    def __init__(self, runtime: Runtime, entries: list[Entry]) -> None:
        self.runtime = runtime
        self.entries = entries
        self.real: Any = None

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        for entry in self.entries:
            self.runtime.activate_entry(entry)
        real = PathFinder.find_spec(spec.name, [entry.target for entry in self.entries])
        if real is None:
            raise ModuleNotFoundError(f"No module named {spec.name!r}", name=spec.name)
        finder.adopt(spec, real)
        self.real = real.loader
        create = getattr(real.loader, "create_module", None)
        module: ModuleType | None = create(spec) if create is not None else None
        return module

    def exec_module(self, module: ModuleType) -> None:
        if self.real is None:  # create_module never ran: no empty module for the importer
            raise ImportError(f"lazyext could not load {module.__name__!r}", name=module.__name__)
        if module.__spec__ is not None:
            module.__spec__.loader = self.real
        module.__loader__ = self.real
        self.real.exec_module(module)

    def __repr__(self) -> str:
        return f"<lazyext.ClosureLoader for {len(self.entries)} installs>"
