"""``multiprocessing`` spawn children of an activated process (the spawn view, _view)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from support import Wheelhouse, run_python

SCRIPT = """
import importlib, json, multiprocessing, sys
import lazyext

CONFIG = {"tinyyaml": "TinyYaml>=6", "alpha": "alpha", "pthpkg": "pthpkg"}
OPTIONS = {"find_links": [FIND_LINKS], "no_index": True}


def try_import(name):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as error:
        return {"error": type(error).__name__, "message": str(error)}
    import importlib.metadata as md
    try:
        version = md.version({"tinyyaml": "TinyYaml"}.get(name, name))
    except md.PackageNotFoundError:
        version = None
    return {
        "file": module.__file__,
        "value": next(
            (getattr(module, a) for a in ("NAME", "VALUE", "WHERE") if hasattr(module, a)), None
        ) or module.load(""),
        "version": version,
        "lazyext_active": any("LazyFinder" in repr(f) for f in sys.meta_path),
    }


def activate_then_import(name):
    lazyext.activate(CONFIG, **OPTIONS)
    return try_import(name)


def in_child(function, name):
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(function, (name,))


if __name__ == "__main__":
    lazyext.activate(CONFIG, **OPTIONS)
    import tinyyaml  # activated here; alpha is configured but never imported
    import pthpkg  # its .pth path line is part of what the child inherits
    results = {
        "parent": tinyyaml.__file__,
        "installed": in_child(try_import, "tinyyaml"),
        "dependency": in_child(try_import, "tinydep"),
        "pth": in_child(try_import, "pthpkg"),
        "uninstalled": in_child(try_import, "alpha"),
        "activated": in_child(activate_then_import, "alpha"),
        "activated_installed": in_child(activate_then_import, "tinyyaml"),
    }
    print("RESULTS=" + json.dumps(results))
"""


def test_spawn_children(tmp_path: Path, wheelhouse: Wheelhouse, cache_dir: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(SCRIPT).replace("FIND_LINKS", repr(str(wheelhouse.path))),
        encoding="utf-8",
    )
    result = run_python(f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')")
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("RESULTS=")]
    results = json.loads(line.removeprefix("RESULTS="))

    # An extension the parent activated imports in a child that never activated lazyext.
    # (Metadata is lazyext's finder's to answer, one distribution per name: the view
    # links no .dist-info, so such a child does not see the installs' metadata.)
    installed = results["installed"]
    assert installed["value"] == 42
    assert installed["lazyext_active"] is False
    assert Path(installed["file"]).resolve() == Path(results["parent"]).resolve()
    assert str(cache_dir) in str(Path(installed["file"]).resolve())
    assert results["dependency"]["value"] == 41
    assert results["pth"]["value"] == "pth"

    # A configured extension the parent never imported: not visible without lazyext...
    assert results["uninstalled"]["error"] == "ModuleNotFoundError"
    assert "alpha" in results["uninstalled"]["message"]
    # ...but a child that activates lazyext itself installs and imports it.
    activated = results["activated"]
    assert activated["value"] == "alpha"
    assert activated["version"] == "1.0"
    assert activated["lazyext_active"] is True
    assert str(cache_dir) in str(Path(activated["file"]).resolve())
    # A child that activates sees the metadata of what the parent installed, unchanged.
    again = results["activated_installed"]
    assert (again["value"], again["version"]) == (42, "6.1")
    assert Path(again["file"]).resolve() == Path(results["parent"]).resolve()


def test_a_reinstalled_extension_replaces_its_view_links_and_keeps_a_lease(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    """After invalidate + reinstall, children see the new install; gc still sees the old."""
    import os
    import sys

    import lazyext
    from lazyext._importer import view as _view

    options = wheelhouse.options(cache_dir)
    lazyext.activate({"alpha": "alpha"}, **options)
    first = lazyext.ensure("alpha", **options)
    view = _view.current()
    assert view is not None
    assert view in sys.path
    assert os.readlink(os.path.join(view, "alpha")) == str(first / "alpha")
    lazyext.invalidate("alpha", **options)
    second = lazyext.ensure("alpha", **options)
    assert second != first
    assert os.readlink(os.path.join(view, "alpha")) == str(second / "alpha")
    retired = [name for name in os.listdir(view) if name.startswith(".retired.alpha.")]
    assert len(retired) == 1
    assert os.readlink(os.path.join(view, retired[0])) == str(first / "alpha")


def test_distributions_lists_each_activated_install_once(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    import importlib.metadata

    import lazyext

    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **wheelhouse.options(cache_dir))
    import tinyyaml  # type: ignore[import-not-found]  # noqa: F401

    names = [d.metadata["Name"] for d in importlib.metadata.distributions()]
    assert names.count("TinyYaml") == 1
    assert names.count("tinydep") == 1
    assert importlib.metadata.version("TinyYaml") == "6.1"


FORK_SCRIPT = """
import importlib.metadata, json, os, sys
import lazyext
from lazyext._importer import view as _view

lazyext.activate({"alpha": "alpha", "beta": "beta"}, find_links=[FIND_LINKS], no_index=True)
import alpha
view = _view.current()
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    import beta  # installed and activated in the child only
    names = [d.metadata["Name"] for d in importlib.metadata.distributions()]
    child = {"view": _view.current(), "alpha": names.count("alpha"), "beta": names.count("beta")}
    lazyext.deactivate()
    child["left"] = [p for p in sys.path if "views" in p]
    os.write(write, json.dumps(child).encode())
    os._exit(0)
os.close(write)
os.waitpid(pid, 0)
child = json.loads(os.read(read, 65536))
print("RESULTS=" + json.dumps({"parent": view, "links": sorted(os.listdir(view)), **child}))
"""


def test_a_forked_child_leaves_the_parents_view_alone(
    tmp_path: Path, wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    # The view is the parent's lease on its installs and its spawn children's sys.path:
    # a forked child that activates more, or deactivates, makes and removes its own.
    code = textwrap.dedent(FORK_SCRIPT).replace("FIND_LINKS", repr(str(wheelhouse.path)))
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("RESULTS=")]
    results = json.loads(line.removeprefix("RESULTS="))
    assert results["links"] == ["alpha"]  # metadata is the finder's, not linked
    assert results["view"] != results["parent"]
    assert (results["alpha"], results["beta"]) == (1, 1)
    assert results["left"] == []
    assert not Path(results["view"]).exists()


FORK_WHILE_LOCKED = """
import json, os, signal, sys, threading
import lazyext
from lazyext import _api
from lazyext._uv import command as _installer

CONFIG = {"alpha": "alpha", "beta": "beta"}
OPTIONS = {"find_links": [FIND_LINKS], "no_index": True}
lazyext.activate(CONFIG, **OPTIONS)
import alpha
held, release = threading.Event(), threading.Event()

def hold():  # another thread inside activate() or an activation at the moment of fork
    with _api._lock, _api._runtime._lock, _installer._uv_lock:
        held.set()
        release.wait()

thread = threading.Thread(target=hold)
thread.start()
held.wait()
pid = os.fork()
if pid == 0:
    signal.alarm(20)  # a hang ends here instead of in the test's timeout
    lazyext.activate(CONFIG, **OPTIONS)
    import beta
    print("CHILD=" + json.dumps(beta.__name__), flush=True)
    os._exit(0)
release.set()
thread.join()
_, status = os.waitpid(pid, 0)
print("STATUS=" + str(status))
"""


def test_a_fork_while_another_thread_holds_lazyexts_locks(
    wheelhouse: Wheelhouse, cache_dir: Path, lock_backend: str
) -> None:
    # A lock held by a thread that does not exist in the child is never released there:
    # the child's activate() and imports must not wait for it (FAULTS D52).
    code = textwrap.dedent(FORK_WHILE_LOCKED).replace("FIND_LINKS", repr(str(wheelhouse.path)))
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert 'CHILD="beta"' in result.stdout.splitlines(), result.stdout + result.stderr
    assert "STATUS=0" in result.stdout.splitlines()
