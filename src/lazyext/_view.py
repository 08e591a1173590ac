"""The spawn view: one ``sys.path`` entry that lets child processes see active installs.

A ``multiprocessing`` spawn child inherits ``sys.path`` but not ``sys.meta_path``. So
each activated process keeps one view directory of symlinks to the top-level items of
its active targets, appended *last* to ``sys.path``. In this process the entry's
``sys.path_importer_cache`` slot holds a finder that answers nothing (lazyext's own
finders serve these imports), so it costs a dict lookup and one call per failing
import instead of a directory scan. Children use it as an ordinary directory.
Views live under ``<cache>/views/<host>.<pid>.<nonce>``; gc removes those of dead
processes.
"""

from __future__ import annotations

import _thread
import os
import sys

_lock = _thread.allocate_lock()
_view: str | None = None
_linked: dict[str, str] = {}  # name in the view -> the target it links into


class _NullFinder:
    """The path-entry finder of the view inside the process that owns it."""

    def find_spec(self, fullname: str, target: object = None) -> None:
        return None

    def invalidate_caches(self) -> None:
        return None


_NULL = _NullFinder()


def current() -> str | None:
    return _view


def add(cache_dir: str, target: str) -> None:
    """Link the top-level items of ``target`` into this process's view."""
    global _view
    with _lock:
        try:
            names = os.listdir(target)
        except OSError:
            return
        if _view is None:
            _view = _create(cache_dir)
            if _view is None:
                return
        for name in names:
            if name in _linked or name.startswith(".") or name in {"bin", "__pycache__"}:
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


def _create(cache_dir: str) -> str | None:
    from lazyext._cache import hostname

    views = os.path.join(os.path.realpath(cache_dir), "views")
    path = os.path.join(views, f"{hostname()}.{os.getpid()}.{os.urandom(4).hex()}")
    try:
        os.makedirs(views, mode=0o700, exist_ok=True)
        os.mkdir(path, mode=0o700)
    except OSError:
        return None
    return path


def _mount() -> None:
    if _view is None:
        return
    sys.path_importer_cache[_view] = _NULL
    if _view not in sys.path:
        sys.path.append(_view)


def withdraw() -> None:
    """Remove the view from ``sys.path`` and delete it (deactivate)."""
    global _view
    with _lock:
        view, _view = _view, None
        _linked.clear()
    if view is None:
        return
    while view in sys.path:
        sys.path.remove(view)
    sys.path_importer_cache.pop(view, None)
    import shutil

    shutil.rmtree(view, ignore_errors=True)


def _reset_after_fork() -> None:
    global _lock
    _lock = _thread.allocate_lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
