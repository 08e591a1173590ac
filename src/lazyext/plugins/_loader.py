"""Importing and unloading plugins inside this process.

A :class:`PluginFinder` on ``sys.meta_path`` owns the top-level import names of the
installed plugins, so no ``sys.path`` entry is added per plugin: an enabled plugin's
names are found in its own directory (loading is delegated to ``PathFinder``), a
disabled one's raise ``ImportError("plugin ... is disabled")``. Plugin names never
shadow the standard library or lazyext's own dependencies (the manifest refuses them).

Unloading removes exactly the plugin's own modules from ``sys.modules``: every module
under one of its top-level names, and every module whose file lies under its
directory. A plugin runs in the host process with the host's rights: this is about
clean reloads, not about isolation, and a plugin is not a security boundary.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.util import spec_from_file_location
from types import MappingProxyType, ModuleType
from typing import Any, Final

from lazyext.plugins._errors import PluginEnableError
from lazyext.plugins._manifest import Manifest

_EXTENSIONS: Final = tuple(importlib.machinery.EXTENSION_SUFFIXES)


@dataclass(slots=True)
class Owner:
    plugin_id: str
    root: str
    loadable: bool
    package: str = ""


class PluginFinder:
    """Owns the top-level names of one manager's plugins."""

    def __init__(self) -> None:
        self.owned: dict[str, Owner] = {}
        self._lock = threading.Lock()

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        owner = self.owned.get(fullname)
        if owner is None:
            return None
        if not owner.loadable:
            raise ImportError(
                f"plugin {owner.plugin_id!r} is disabled; enable it first "
                f"(lazyext plugins enable {owner.plugin_id})",
                name=fullname,
            )
        init = os.path.join(owner.root, "__init__.py")
        if fullname == owner.package and os.path.isfile(init):
            # An editable plugin whose folder is the package itself, under another name
            # ("my_plugin_v2/" imported as my_plugin): its submodules follow __path__.
            return spec_from_file_location(fullname, init, submodule_search_locations=[owner.root])
        return importlib.machinery.PathFinder.find_spec(fullname, [owner.root])

    def invalidate_caches(self) -> None:
        return None

    def own(self, manifest: Manifest, root: str, *, loadable: bool) -> None:
        with self._lock:
            for name in [n for n, o in self.owned.items() if o.plugin_id == manifest.id]:
                del self.owned[name]
            for name in manifest.modules:
                self.owned[name] = Owner(manifest.id, root, loadable, manifest.package)

    def disown(self, plugin_id: str) -> None:
        with self._lock:
            for name in [n for n, o in self.owned.items() if o.plugin_id == plugin_id]:
                del self.owned[name]

    def owner_of(self, name: str) -> str | None:
        owner = self.owned.get(name)
        return owner.plugin_id if owner is not None else None

    def __repr__(self) -> str:
        return f"<lazyext.PluginFinder owning {len(self.owned)} names>"


def install_finder(finder: PluginFinder) -> None:
    if finder not in sys.meta_path:
        sys.meta_path.insert(0, finder)


def remove_finder(finder: PluginFinder) -> None:
    while finder in sys.meta_path:
        sys.meta_path.remove(finder)


def other_finders(finder: PluginFinder) -> list[PluginFinder]:
    return [f for f in sys.meta_path if isinstance(f, PluginFinder) and f is not finder]


def _under(path: str, root: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root + os.sep)


def belongs(module: ModuleType, name: str, root: str, names: Iterable[str]) -> bool:
    """Is ``module`` (registered as ``name``) one of the plugin's own modules?"""
    if name.partition(".")[0] in names:
        return True
    file = getattr(module, "__file__", None)
    if isinstance(file, str) and _under(file, root):
        return True
    spec = getattr(module, "__spec__", None)
    locations = getattr(spec, "submodule_search_locations", None) or ()
    return any(isinstance(p, str) and _under(p, root) for p in locations)


def take_modules(root: str, names: Iterable[str]) -> dict[str, ModuleType]:
    """Remove the plugin's modules from ``sys.modules`` and return them."""
    real = os.path.realpath(root)
    names = tuple(names)
    taken = {
        name: module
        for name, module in list(sys.modules.items())
        if module is not None and belongs(module, name, real, names)
    }
    for name in taken:
        sys.modules.pop(name, None)
    for path in [p for p in sys.path_importer_cache if isinstance(p, str) and _under(p, real)]:
        sys.path_importer_cache.pop(path, None)
    importlib.invalidate_caches()
    return taken


def put_back(modules: Mapping[str, ModuleType]) -> None:
    sys.modules.update(modules)
    importlib.invalidate_caches()


def foreign_modules(manifest: Manifest, roots: Iterable[str]) -> list[str]:
    """Modules already imported under the plugin's names from outside ``roots`` (the
    plugin's directory, and that of the version it replaces)."""
    roots = [os.path.realpath(path) for path in roots]
    found = []
    for name in manifest.modules:
        module = sys.modules.get(name)
        if module is None:
            continue
        file = getattr(module, "__file__", None)
        if not (isinstance(file, str) and any(_under(file, real) for real in roots)):
            found.append(f"{name} ({file or 'built-in or namespace'})")
    return found


def loaded_extensions(modules: Mapping[str, ModuleType]) -> list[str]:
    """The C extensions among ``modules``: they cannot be unloaded from a process."""
    return sorted(
        name
        for name, module in modules.items()
        if str(getattr(module, "__file__", "") or "").endswith(_EXTENSIONS)
    )


def plugin_modules(root: str, names: Iterable[str]) -> dict[str, ModuleType]:
    real = os.path.realpath(root)
    names = tuple(names)
    return {
        name: module
        for name, module in list(sys.modules.items())
        if module is not None and belongs(module, name, real, names)
    }


def purge_bytecode(root: str) -> None:
    """Drop ``__pycache__`` under ``root``: a source edited twice within one second at
    the same size would otherwise be served from stale bytecode (pyc files record the
    source's mtime in whole seconds)."""
    for base, dirs, _files in os.walk(root):
        if "__pycache__" in dirs:
            shutil.rmtree(os.path.join(base, "__pycache__"), ignore_errors=True)
            dirs.remove("__pycache__")


def instantiate(manifest: Manifest, arguments: Mapping[str, Any]) -> object:
    """Import the entry module and build the entry object.

    A class is instantiated: with the plugin's ``arguments`` (a read-only mapping) when
    its constructor takes a parameter, without otherwise. Anything else (a module, an
    instance, a namespace) is used as it is.
    """
    target: Any = importlib.import_module(manifest.entry_module)
    for part in manifest.entry_attr.split(".") if manifest.entry_attr else ():
        target = getattr(target, part)
    if not isinstance(target, type):
        return target
    return target(MappingProxyType(dict(arguments))) if _takes_argument(target) else target()


def _takes_argument(cls: type) -> bool:
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters
    )


def call_hook(target: object, hook: str) -> None:
    function = getattr(target, hook, None)
    if function is not None:
        function()


def describe(error: BaseException) -> str:
    """One line for ``last_error``: the exception and where in the plugin it came from."""
    if isinstance(error, SyntaxError):
        return f"{type(error).__name__}: {error.msg} ({error.filename}, line {error.lineno})"
    where = ""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith("<frozen ")
    ]
    if frames:
        frame = frames[-1]
        where = f" (at {frame.filename}:{frame.lineno})"
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    return " ".join(text.splitlines()) + where


_CHILD: Final = """
import importlib, importlib.util, json, os, sys
spec = json.loads(sys.argv[1])
sys.path[:0] = [spec["root"]]
sys.path.extend(spec["paths"])
init = os.path.join(spec["root"], "__init__.py")
if spec["package"] and os.path.isfile(init):  # an editable folder that is the package
    found = importlib.util.spec_from_file_location(
        spec["package"], init, submodule_search_locations=[spec["root"]])
    package = sys.modules[spec["package"]] = importlib.util.module_from_spec(found)
    found.loader.exec_module(package)
target = importlib.import_module(spec["module"])
for part in filter(None, spec["attr"].split(".")):
    target = getattr(target, part)
print("lazyext-plugin-ok")
"""


def validate_in_child(manifest: Manifest, root: str, paths: list[str], timeout: float) -> None:
    """Import the plugin's entry in a child interpreter; raise PluginEnableError if that
    crashes, hangs past ``timeout``, or raises."""
    spec = {
        "root": root,
        "paths": paths,
        "module": manifest.entry_module,
        "attr": manifest.entry_attr,
        "package": manifest.package,
    }
    command = [sys.executable, "-c", _CHILD, json.dumps(spec)]
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            why = f"importing it in a child process hung for {timeout:g} s"
            raise _child_error(manifest, why) from None
    if child.returncode == 0 and "lazyext-plugin-ok" in out:
        return
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name
        why = f"importing it crashed a child process ({name})"
    else:
        tail = err.strip().splitlines()[-1:] or [f"exit status {child.returncode}"]
        why = f"importing it in a child process failed: {tail[0]}"
    raise _child_error(manifest, why)


def _child_error(manifest: Manifest, why: str) -> PluginEnableError:
    return PluginEnableError(
        f"plugin {manifest.id!r} was not enabled: {why}", plugin_id=manifest.id, error=why
    )
