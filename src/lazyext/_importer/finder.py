"""The ``sys.meta_path`` finders and the provisioning loader.

Two finders, so that an active extension costs nothing on imports it does not own:

* :class:`LazyFinder` sits *first* on ``sys.meta_path`` and owns the configured
  top-level names only: a dict lookup answers ``None`` for everything else. It comes
  before ``PathFinder`` so that a configured requirement is served from the cache even
  when an older, unsatisfying copy sits in site-packages.
* :class:`FallbackFinder` sits *last* and owns the other top-level names of the
  activated installs (dependencies such as ``six``): the application's own modules and
  the standard library always win over them. A name it does not know is asked of the
  cached installs of the environment not activated yet (:mod:`.cached`).

Neither adds a ``sys.path`` entry per extension (each entry slows every failing
import); loading is delegated to ``PathFinder.find_spec(name, [target])``.

``find_spec`` runs under the global import lock, so it never installs: on a cache
miss it answers with a spec whose loader provisions in ``create_module``, where only
the one module's lock is held. ``create_module`` (not ``exec_module``) because a
failure raised from ``exec_module`` hands threads waiting on the same module an empty
module on 3.10–3.12 (CPython gh-143650).
"""

from __future__ import annotations

import os
import sys

# The classes of importlib.machinery, from the frozen modules every interpreter has
# loaded: importing the importlib package costs ~0.5 ms (it imports warnings).
from _frozen_importlib import ModuleSpec
from _frozen_importlib_external import PathFinder

from lazyext._settings.config import Plan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import ModuleType
    from typing import Any

    # The finders call back into the runtime that owns them (it passes itself in).
    from lazyext._importer.runtime import Runtime
    from lazyext._store.entries import Entry


class LazyFinder:
    """Owns the configured top-level import names."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.owned: dict[str, Plan] = {}
        self.parents: set[str] = set()  # packages above configured dotted names

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        plan = self.owned.get(fullname)
        if plan is None:
            if fullname in self.parents:
                return self.runtime.parent_spec(fullname)
            return None
        try:
            return self.runtime.spec_for(fullname, plan)
        except Exception as error:  # an unsafe cache, a bad lock file: the user's import
            from lazyext._errors import LazyextError, without_internal_frames  # errors only

            if isinstance(error, LazyextError):
                raise without_internal_frames(error)  # noqa: B904 (its cause stays chained)
            raise

    def invalidate_caches(self) -> None:
        # importlib.invalidate_caches() means "retry failed installs now". Failure
        # memory (json, errors: ~1 ms) loads only when someone asks.
        from lazyext._store import failures

        failures.forget_all()

    def find_distributions(self, context: Any = None) -> Iterable[Any]:
        """Make ``importlib.metadata`` see the environment's installs, imported or not.

        Every distribution of the active environment that is in the cache and imports
        from it answers, one per name, before anything imports it: ``version()``,
        entry points (a pytest plugin, console scripts) and optional-dependency probes
        see what an import would get (the rules: :mod:`.metadata`).
        """
        # Loaded when a program asks for metadata (importlib.metadata itself: ~40 ms).
        from lazyext._importer import metadata

        return metadata.find_distributions(self.runtime, context)

    def __repr__(self) -> str:
        return f"<lazyext.LazyFinder owning {len(self.owned)} names>"


class FallbackFinder:
    """Owns the non-configured top-level names of activated (and cached) installs."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {}
        # Names nobody has: asked of the cached installs not activated yet (.cached).
        self.miss: Callable[[str], ModuleSpec | None] | None = None

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        targets = self.names.get(fullname)
        if targets is None:
            miss = self.miss
            return None if miss is None else miss(fullname)
        spec = PathFinder.find_spec(fullname, targets)
        search = spec.submodule_search_locations if spec is not None else None
        if spec is not None and spec.origin is not None and isinstance(search, list):
            # A package that several installs provide (a pkgutil-style namespace: each
            # wheel ships the same __init__.py): its submodules come from all of them,
            # as extend_path would find them on a shared site-packages.
            for install in targets:
                portion = os.path.join(install, fullname)
                if portion not in search and os.path.isdir(portion):
                    search.append(portion)
        return spec

    def invalidate_caches(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"<lazyext.FallbackFinder owning {len(self.names)} names>"


class ProvisionLoader:
    """Installs on first import, then turns the spec into the installed module's own."""

    def __init__(self, runtime: Runtime, plan: Plan) -> None:
        self.runtime = runtime
        self.plan = plan
        self.real: Any = None  # the installed module's loader, once create_module ran

    def _provision(self, spec: ModuleSpec) -> ModuleSpec:
        entries = self.runtime.provision_and_activate(self.plan, name=spec.name)
        real = real_spec(spec.name, entries)
        adopt(spec, real)
        self.real = real.loader
        return real

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        from lazyext._errors import LazyextError, without_internal_frames  # cold path only

        try:
            real = self._provision(spec)
        except LazyextError as error:
            raise without_internal_frames(error)  # noqa: B904 (its cause stays chained)
        create = getattr(real.loader, "create_module", None)
        module: ModuleType | None = create(spec) if create is not None else None
        return module

    def get_code(self, fullname: str) -> Any:
        """For ``runpy`` (``python -m name``), which asks for code before any import."""
        from lazyext._errors import LazyextError, without_internal_frames  # cold path only

        loader: Any = self
        spec = ModuleSpec(fullname, loader)
        try:
            real = self._provision(spec)
        except LazyextError as error:
            raise without_internal_frames(error)  # noqa: B904 (its cause stays chained)
        if real.submodule_search_locations is not None:
            # A package runs its __main__, as runpy would have done had it known.
            return compile(
                f"import runpy\nrunpy.run_module({fullname + '.__main__'!r}, "
                "run_name='__main__', alter_sys=True)\n",
                f"<lazyext: python -m {fullname}>",
                "exec",
            )
        real_loader: Any = real.loader
        return real_loader.get_code(fullname)

    def is_package(self, fullname: str) -> bool:
        loader: Any = self
        spec = ModuleSpec(fullname, loader)
        return self._provision(spec).submodule_search_locations is not None

    def exec_module(self, module: ModuleType) -> None:
        # The import system calls the adopted spec's loader; a loader that wraps this one
        # (importlib.util.LazyLoader) calls this after create_module: hand it on.
        if self.real is not None:
            if module.__spec__ is not None:
                module.__spec__.loader = self.real
            module.__loader__ = self.real
            self.real.exec_module(module)
            return
        # create_module never ran: the import system must not get an empty module.
        raise ImportError(f"lazyext could not load {module.__name__!r}", name=module.__name__)

    def __repr__(self) -> str:
        return f"<lazyext.ProvisionLoader for {self.plan.requirement!r}>"


def real_spec(fullname: str, entries: Sequence[Entry]) -> ModuleSpec:
    """The installed module's own spec, found in the targets of an extension's closure."""
    parents = fullname.split(".")[:-1]
    search = [os.path.join(entry.target, *parents) for entry in entries]
    spec = PathFinder.find_spec(fullname, search)
    if spec is None:
        from lazyext._errors import InstallError  # an error's path only

        first = entries[0] if entries else None
        raise InstallError(
            f"{first.requirement if first else 'the extension'} is installed in "
            f"{first.target if first else 'the cache'} but provides no module named "
            f"{fullname!r}; fix the extension's modules list, or, if it was importable "
            "before, run `lazyext verify --repair` (the install may be damaged)",
            name=fullname,
            spec=first.requirement if first else "",
            cache_key=first.key if first else "",
        )
    if spec.origin is None and spec.submodule_search_locations is not None:
        # A namespace package: as Python would, merge it with its portions elsewhere on
        # sys.path (the host's; the installs', through the view) when they include this one.
        merged = PathFinder.find_spec(fullname) if not parents else None
        portions = set(spec.submodule_search_locations)
        if (
            merged is not None
            and merged.origin is None
            and portions <= set(merged.submodule_search_locations or ())
        ):
            return merged
    return spec


def adopt(spec: ModuleSpec, real: ModuleSpec) -> None:
    """Make ``spec`` indistinguishable from ``real``.

    The import system keeps the spec object it got from ``find_spec`` as the module's
    ``__spec__`` and reads ``spec.loader`` again after ``create_module``; updating it in
    place gives the module its real ``__spec__``, ``__loader__``, ``__file__`` and
    ``__path__`` and hands execution to the real loader.
    """
    spec.loader = real.loader
    spec.origin = real.origin
    spec.loader_state = real.loader_state
    spec.submodule_search_locations = real.submodule_search_locations
    spec.has_location = real.has_location
    spec.cached = real.cached


def insert_first(finder: Any) -> None:
    if finder not in sys.meta_path:
        sys.meta_path.insert(0, finder)


def append_last(finder: Any) -> None:
    if finder not in sys.meta_path:
        sys.meta_path.append(finder)


def remove(finder: object) -> None:
    while finder in sys.meta_path:
        sys.meta_path.remove(finder)
