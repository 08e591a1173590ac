"""The spawn view: one ``sys.path`` entry that lets child processes see active installs.

A ``multiprocessing`` spawn child inherits ``sys.path`` but not ``sys.meta_path``. So
each activated process keeps one view directory of symlinks to the top-level items of
its active targets, appended *last* to ``sys.path``. In this process the entry's
``sys.path_importer_cache`` slot holds a finder that answers only namespace-package
portions (lazyext's own finders serve the rest), so it costs a dict lookup and one call
per failing import instead of a directory scan. Children use it as an ordinary directory.
Views live under ``<cache>/views/<host>.<pid>.<nonce>``; gc removes those of dead
processes.
"""

from __future__ import annotations

# importlib.machinery's classes, without importing importlib (see .finder).
import _frozen_importlib_external
import _thread
import os
import sys
from _frozen_importlib import ModuleSpec
from _frozen_importlib_external import PathFinder

from lazyext._settings.names import NOT_IMPORTABLE, hostname, own_paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def refused(name: str) -> bool:
    """Top-level items a child must not see through the view: what lazyext refuses to
    serve in the process too (hidden files; standard-library names, which a wheel's
    ``msvcrt.py`` or ``typing.py`` would shadow in a child), and scripts."""
    stem = name.partition(".")[0]
    return name.startswith(".") or name in {"bin", "__pycache__"} or stem in sys.stdlib_module_names


_lock = _thread.allocate_lock()
_view: str | None = None
_linked: dict[str, str] = {}  # name in the view -> the target it links into
_dirs: dict[str, list[str]] = {}  # top-level directory name -> the targets that have one
_inherited: list[str] = []  # views of the processes this one was forked from
_created = False  # the view's directory exists (it is made on first use)
_listed: list[str] = []  # configured top-level names, for pkgutil.iter_modules()


class _NullFinder:
    """The path-entry finder of the view inside the process that owns it.

    It answers nothing but namespace-package portions of the active targets: so
    ``PathFinder`` merges them with the host's portions of the same namespace (the
    ``google`` case), also whenever a namespace's ``__path__`` is recomputed from
    ``sys.path``. Packages and modules are lazyext's meta-path finders' to serve.
    """

    def find_spec(self, fullname: str, target: object = None) -> ModuleSpec | None:
        targets = _dirs.get(fullname)
        if not targets:
            return None
        found = PathFinder.find_spec(fullname, list(targets))
        if found is None or found.origin is not None or found.submodule_search_locations is None:
            return None  # a regular package in some target: not a namespace
        portion = ModuleSpec(fullname, None)
        portion.submodule_search_locations = list(found.submodule_search_locations)
        return portion

    def invalidate_caches(self) -> None:
        return None

    def iter_modules(self, prefix: str = "") -> list[tuple[str, bool]]:
        """What ``pkgutil.iter_modules()`` lists for lazyext: every configured top-level
        name, installed or not, and the top-level names of the active installs."""
        names = dict.fromkeys(_listed, False)
        for name, target in list(_linked.items()):
            if name.isidentifier():
                names[name] = os.path.isdir(os.path.join(target, name))
            elif name.endswith(".py") and name[:-3].isidentifier():
                names.setdefault(name[:-3], False)
        return [(prefix + name, ispkg) for name, ispkg in sorted(names.items())]


_NULL = _NullFinder()


def current() -> str | None:
    """This process's view directory, once it exists."""
    return _view if _created else None


def views() -> list[str]:
    """This process's view and those inherited through ``fork``: lazyext's path entries."""
    return [*_inherited, _view] if _view is not None else list(_inherited)


def _tell_host() -> None:
    """What the host check must skip on ``sys.path`` (lazyext._env.host)."""
    own_paths[:] = views()


def prepare(cache_dir: str, names: list[str]) -> None:
    """Mount the view (its directory is made on first use) listing ``names``."""
    global _view, _listed
    with _lock:
        _listed = list(names)
        if _view is None:
            _view = _path(cache_dir)
            _tell_host()
        _mount()


def add(cache_dir: str, target: str) -> None:
    """Link the top-level items of ``target`` into this process's view."""
    global _view, _created
    with _lock:
        try:
            names = os.listdir(target)
        except OSError:
            return
        if _view is None:
            _view = _path(cache_dir)
            _tell_host()
        if not _created:
            _created = _create(_view)
            if not _created:
                return
        for name in names:
            if (
                name.isidentifier()
                and name not in NOT_IMPORTABLE
                and target not in _dirs.get(name, ())
                and os.path.isdir(os.path.join(target, name))
            ):
                _dirs.setdefault(name, []).append(target)
                _recompute_namespace(name)
            if (
                name in _linked
                or refused(name)
                # Metadata is lazyext's finder's to answer, one distribution per name;
                # a linked .dist-info would answer a second time through sys.path.
                or name.endswith(".dist-info")
            ):
                continue
            try:
                os.symlink(os.path.join(target, name), os.path.join(_view, name))
            except OSError:
                continue  # taken by an earlier target, or no symlinks here
            _linked[name] = target
        _mount()


def drop(target: str) -> None:
    """Take back what ``target`` contributed (it was invalidated or refreshed).

    The links are renamed, not removed: hidden names are invisible to imports, but
    gc still reads them as this process's lease on the old install, whose modules it
    may still have loaded (and whose submodules it may still import).
    """
    with _lock:
        if _view is None:
            return
        for name, linked in list(_linked.items()):
            if linked == target:
                retired = os.path.join(_view, f".retired.{name}.{os.urandom(3).hex()}")
                try:
                    os.rename(os.path.join(_view, name), retired)
                except OSError:
                    pass
                del _linked[name]
        for name, targets in list(_dirs.items()):
            if target in targets:
                targets.remove(target)
                if not targets:
                    del _dirs[name]


def _recompute_namespace(name: str) -> None:
    """Make an imported namespace package see a portion that was just installed.

    Python recomputes a namespace's ``__path__`` only when ``sys.path`` changes or
    ``importlib.invalidate_caches()`` runs (3.11.7+ and 3.12+); activating a cached
    install does neither, so a namespace imported before it would not see its portion.
    """
    path = getattr(sys.modules.get(name), "__path__", None)
    if path is not None and hasattr(path, "_last_parent_path"):
        path._last_parent_path = ()


def invalidate_path_finders() -> None:
    """``PathFinder.invalidate_caches()``, minus its import of ``importlib.metadata``.

    Python 3.13's version imports ``importlib.metadata`` to clear its caches, and with
    it json, inspect, pathlib, zipfile, shutil, threading and typing (~30 ms on the
    cold path). A module not imported yet has no caches to clear: then the rest of
    the method is done here (path-entry finders, namespace packages' epoch).
    """
    if "importlib.metadata" in sys.modules or sys.version_info < (3, 13):
        PathFinder.invalidate_caches()
        return
    for name, finder in list(sys.path_importer_cache.items()):
        if finder is None or not os.path.isabs(name):
            del sys.path_importer_cache[name]
        elif hasattr(finder, "invalidate_caches"):
            finder.invalidate_caches()
    namespace_path: Any = getattr(_frozen_importlib_external, "_NamespacePath", None)
    if namespace_path is not None and hasattr(namespace_path, "_epoch"):
        namespace_path._epoch += 1  # namespace packages recompute their __path__


def _path(cache_dir: str) -> str:
    views = os.path.join(os.path.realpath(cache_dir), "views")
    return os.path.join(views, f"{hostname()}.{os.getpid()}.{os.urandom(4).hex()}")


def _create(path: str) -> bool:
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        os.mkdir(path, mode=0o700)
    except FileExistsError:
        return os.path.isdir(path) and not os.path.islink(path)
    except OSError:
        return False
    return True


def _mount() -> None:
    if _view is None:
        return
    sys.path_importer_cache[_view] = _NULL
    if _view not in sys.path:
        sys.path.append(_view)


def withdraw() -> None:
    """Remove the view from ``sys.path`` and delete it (deactivate)."""
    global _view, _created
    with _lock:
        paths, view, _view = views(), _view, None
        created, _created = _created, False
        _linked.clear()
        _dirs.clear()
        _inherited.clear()
        _tell_host()
    for path in paths:  # an inherited view is left to its process: only unmounted
        while path in sys.path:
            sys.path.remove(path)
        sys.path_importer_cache.pop(path, None)
    if view is None or not created:
        return
    import shutil  # deactivate() only: ~2 ms off the warm path

    shutil.rmtree(view, ignore_errors=True)


def _reset_after_fork() -> None:
    # The view is the parent's: its lease on the installs it uses and its spawn
    # children's sys.path entry. The child stops writing to it (it makes its own on its
    # next activation) and never deletes it.
    global _lock, _view, _created
    _lock = _thread.allocate_lock()
    if _view is not None:
        _inherited.append(_view)
    _view = None
    _created = False
    _linked.clear()
    _tell_host()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
