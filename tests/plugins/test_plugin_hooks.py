"""Hooks on pluggy: the registry follows each plugin's life; lazyext's events are hooks."""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy
import pytest
from plugkit import write_tree

import lazyext
from lazyext import _events
from lazyext.plugins import (
    LifecycleSpec,
    PluginEnableError,
    PluginManager,
    hookimpl,
    hookspec,
)
from lazyext.plugins._hooks import Registry

from support import Wheelhouse, run_python


class GreetSpec:
    @hookspec
    def greet(self, name: str) -> str:  # type: ignore[empty-body]
        """Say hello."""


def greeter(base: Path, package: str, version: str = "1.0", **extra: str) -> Path:
    """A plugin whose entry object implements ``greet``, answering with its version."""
    files = {
        f"{package}/__init__.py": f"PLUGIN_INFO = {{'id': {package!r}, 'version': {version!r}}}\n",
        f"{package}/run.py": (
            "from lazyext.plugins import Plugin, hookimpl\n"
            f"VERSION = {version!r}\n"
            "class Plugin(Plugin):\n"
            "    @hookimpl\n"
            "    def greet(self, name):\n"
            f"        return f'{{name}} from {package} {{VERSION}}'\n"
        ),
    }
    files.update(extra)
    write_tree(base, files)
    return base / package


class Audit:
    """An application's implementation of lazyext's own events."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, ...]] = []

    @hookimpl
    def lazyext_plugin_installed(self, plugin_id: str, info: Any) -> None:
        self.seen.append(("installed", plugin_id, info.version))

    @hookimpl
    def lazyext_plugin_enabled(self, plugin_id: str, plugin: Any, manifest: Any) -> None:
        self.seen.append(("enabled", plugin_id, manifest.version))

    @hookimpl
    def lazyext_plugin_reloaded(self, plugin_id: str, plugin: Any, previous: Any) -> None:
        assert plugin is not previous
        self.seen.append(("reloaded", plugin_id))

    @hookimpl
    def lazyext_plugin_disabled(self, plugin_id: str) -> None:
        self.seen.append(("disabled", plugin_id))

    @hookimpl
    def lazyext_plugin_failed(self, plugin_id: str, error: Exception) -> None:
        self.seen.append(("failed", plugin_id, type(error).__name__))

    @hookimpl
    def lazyext_plugin_uninstalled(self, plugin_id: str) -> None:
        self.seen.append(("uninstalled", plugin_id))

    @hookimpl
    def lazyext_extension_installed(self, name: str, paths: Any, module: str | None) -> None:
        self.seen.append(("extension", name, str(module), str(len(paths))))


@pytest.fixture
def hooked(make_manager: Callable[..., PluginManager]) -> PluginManager:
    return make_manager(hookspecs=GreetSpec)


def test_enabling_registers_disabling_unregisters(hooked: PluginManager, sources: Path) -> None:
    hooked.install(greeter(sources, "hello_a"), enable=True)
    hooked.install(greeter(sources, "hello_b"))
    assert hooked.hook.greet(name="you") == ["you from hello_a 1.0"]
    hooked.enable("hello_b")
    assert sorted(hooked.hook.greet(name="you")) == ["you from hello_a 1.0", "you from hello_b 1.0"]
    hooked.disable("hello_a")
    assert hooked.hook.greet(name="you") == ["you from hello_b 1.0"]
    hooked.uninstall("hello_b")
    assert hooked.hook.greet(name="you") == []
    assert not any(name.startswith("hello_") for name, _ in hooked.pluggy.list_name_plugin())


def test_a_module_that_implements_hooks_is_registered_too(
    hooked: PluginManager, sources: Path
) -> None:
    init = (
        "PLUGIN_INFO = {'id': 'modhooks', 'version': '1'}\n"
        "from lazyext.plugins import hookimpl\n"
        "@hookimpl\n"
        "def greet(name):\n"
        "    return 'package says hi to ' + name\n"
    )
    write_tree(
        sources,
        {
            "modhooks/__init__.py": init,
            "modhooks/run.py": "class Plugin:\n    pass\n",  # an entry without hooks
        },
    )
    hooked.install(sources / "modhooks", enable=True)
    assert hooked.hook.greet(name="x") == ["package says hi to x"]
    names = [name for name, _ in hooked.pluggy.list_name_plugin() if name.startswith("modhooks")]
    assert sorted(n.split(":")[-1] if ":" in n else "entry" for n in names) == [
        "entry",
        "modhooks",
    ]
    hooked.disable("modhooks")
    assert hooked.hook.greet(name="x") == []
    # A module that is the entry object itself is registered once.
    init = init.replace("'version': '1'}", "'version': '2', 'entry': '.'}")
    (sources / "modhooks" / "__init__.py").write_text(init)
    hooked.install(sources / "modhooks", enable=True)
    assert hooked.hook.greet(name="y") == ["package says hi to y"]


def test_a_reload_registers_the_new_code(hooked: PluginManager, sources: Path) -> None:
    folder = greeter(sources, "relo")
    info = hooked.install(folder, enable=True, editable=True)
    assert hooked.hook.greet(name="a") == ["a from relo 1.0"]
    run_py = Path(info.path, "run.py")
    run_py.write_text(run_py.read_text().replace("VERSION = '1.0'", "VERSION = '1.1'"))
    hooked.reload("relo")
    assert hooked.hook.greet(name="a") == ["a from relo 1.1"]
    # A reload that fails keeps the old version registered.
    run_py.write_text(run_py.read_text() + "raise RuntimeError('broken')\n")
    with pytest.raises(PluginEnableError):
        hooked.reload("relo")
    assert hooked.hook.greet(name="a") == ["a from relo 1.1"]


def test_a_failed_enable_leaves_nothing_registered(hooked: PluginManager, sources: Path) -> None:
    folder = greeter(sources, "sour")
    run_py = folder / "run.py"
    failing = "    def on_enable(self):\n        raise ValueError(1)\n"
    run_py.write_text(run_py.read_text() + failing)
    with pytest.raises(PluginEnableError):
        hooked.install(folder, enable=True)
    assert hooked.hook.greet(name="a") == []
    assert [n for n, _ in hooked.pluggy.list_name_plugin() if n.startswith("sour")] == []


def test_an_implementation_that_does_not_match_its_spec_fails_the_enable(
    hooked: PluginManager, sources: Path
) -> None:
    folder = greeter(sources, "wrongargs")
    run_py = folder / "run.py"
    run_py.write_text(run_py.read_text().replace("def greet(self, name)", "def greet(self, nom)"))
    with pytest.raises(PluginEnableError, match="PluginValidationError"):
        hooked.install(folder, enable=True)
    assert hooked.info("wrongargs").status == "failed"
    assert hooked.hook.greet(name="a") == []


def test_lifecycle_events_reach_an_application(
    make_manager: Callable[..., PluginManager], sources: Path
) -> None:
    manager = make_manager()
    audit = Audit()
    assert manager.register(audit, name="audit") == "audit"
    manager.install(greeter(sources, "life"), enable=True)
    manager.reload("life")
    manager.disable("life")
    broken = greeter(sources, "broken_one")
    (broken / "run.py").write_text("raise ImportError('nope')\n")
    with pytest.raises(PluginEnableError):
        manager.install(broken, enable=True)
    manager.uninstall("life")
    assert audit.seen == [
        ("installed", "life", "1.0"),
        ("enabled", "life", "1.0"),
        ("reloaded", "life"),
        ("disabled", "life"),
        ("failed", "broken_one", "PluginEnableError"),
        ("uninstalled", "life"),
    ]
    manager.unregister(audit)
    manager.install(greeter(sources, "quiet"), enable=True)
    assert ("enabled", "quiet", "1.0") not in audit.seen


def test_an_event_hook_may_call_the_manager(
    make_manager: Callable[..., PluginManager], sources: Path
) -> None:
    # The hooks run after the manager's locks are released: no deadlock on the plugin's
    # own (not re-entrant) file lock.
    manager = make_manager()

    class Janitor:
        @hookimpl
        def lazyext_plugin_failed(self, plugin_id: str) -> None:
            manager.uninstall(plugin_id)

    manager.register(Janitor())
    broken = greeter(sources, "gone")
    (broken / "run.py").write_text("raise ImportError('nope')\n")
    with pytest.raises(PluginEnableError):
        manager.install(broken, enable=True)
    assert manager.list() == []


def test_an_event_hook_that_raises_is_logged_not_raised(
    make_manager: Callable[..., PluginManager], sources: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manager = make_manager()

    class Grumpy:
        @hookimpl
        def lazyext_plugin_enabled(self) -> None:
            raise RuntimeError("grr")

    manager.register(Grumpy())
    with caplog.at_level(logging.ERROR, logger="lazyext.plugins"):
        info = manager.install(greeter(sources, "calm"), enable=True)
    assert info.status == "enabled"
    assert "lazyext_plugin_enabled hook implementation raised" in caplog.text


def test_hookspecs_of_another_project_and_lazyext_events_together(
    make_manager: Callable[..., PluginManager], sources: Path
) -> None:
    app_spec = pluggy.HookspecMarker("myapp")
    app_impl = pluggy.HookimplMarker("myapp")

    class Count:
        @app_spec
        def count(self) -> int:  # type: ignore[empty-body]
            """How many."""

    extra = types.ModuleType("extra_specs")

    def describe() -> str:  # type: ignore[empty-body]
        """Describe."""

    extra.describe = app_spec(describe)  # type: ignore[attr-defined]
    manager = make_manager(hookspecs=[Count, extra], project="myapp")
    audit = Audit()

    class Impl:
        @app_impl
        def count(self) -> int:
            return 3

    manager.register(Impl())
    manager.register(audit)
    assert manager.hook.count() == [3]
    assert manager.hook.describe() == []
    manager.install(greeter(sources, "proj"), enable=True)
    assert ("enabled", "proj", "1.0") in audit.seen
    with pytest.raises(ValueError, match="did not find any 'myapp' hooks"):
        manager.add_hookspecs(GreetSpec)  # lazyext's marker is not myapp's...

    class AppGreet:
        @app_spec
        def greet(self, name: str) -> str:  # type: ignore[empty-body]
            """Say hello."""

    manager.add_hookspecs(AppGreet)
    assert manager.hook.greet(name="z") == []  # ...for myapp's hooks either
    assert isinstance(manager.pluggy, pluggy.PluginManager)
    assert manager.pluggy.project_name == "myapp"


def test_extension_installed_reaches_the_hook_while_the_manager_lives() -> None:
    gc.collect()
    before = len(_events._listeners)
    manager = PluginManager()
    assert len(_events._listeners) == before + 1
    audit = Audit()
    manager.register(audit)
    _events.extension_installed("yaml", "pyyaml>=6", ["/c/entries/x"], module="yaml")
    assert audit.seen == [("extension", "yaml", "yaml", "1")]
    manager.close()
    del manager
    gc.collect()
    assert len(_events._listeners) == before  # a manager gone is no listener
    _events.extension_installed("yaml", "pyyaml>=6", [], module=None)
    assert len(audit.seen) == 1


def test_a_listener_that_raises_never_fails_an_install(caplog: pytest.LogCaptureFixture) -> None:
    def angry(**event: object) -> None:
        raise RuntimeError("no")

    seen: list[object] = []
    undo = _events.subscribe(angry)
    undo_too = _events.subscribe(lambda **event: seen.append(event))
    try:
        with caplog.at_level(logging.WARNING, logger="lazyext"):
            _events.extension_installed("a", "a==1", ["/x"])
    finally:
        undo()
        undo_too()
    assert "listener raised" in caplog.text
    assert seen == [{"name": "a", "requirement": "a==1", "paths": ("/x",), "module": None}]


# -- a hook call during a reload: the old version or the new one ---------------------------


def test_a_snapshot_taken_before_a_reload_still_calls_exactly_one_version() -> None:
    registry = Registry()
    registry.add_hookspecs(GreetSpec)

    class Old:
        @hookimpl
        def greet(self, name: str) -> str:
            return "old"

    class New:
        @hookimpl
        def greet(self, name: str) -> str:
            return "new"

    registry.promote("p", registry.add("p", Old(), []))
    before = registry.hook.greet.get_hookimpls()  # a call's snapshot, taken now
    n = registry.add("p", New(), [])
    during = registry.hook.greet.get_hookimpls()  # both versions are listed
    assert registry._hookexec("greet", during, {"name": "x"}, False) == ["old"]
    registry.promote("p", n)
    assert registry._hookexec("greet", during, {"name": "x"}, False) == ["new"]
    assert registry._hookexec("greet", before, {"name": "x"}, False) == ["old"]  # not neither
    assert registry.hook.greet(name="x") == ["new"]
    registry.remove("p")
    assert registry._hookexec("greet", during, {"name": "x"}, False) == ["new"]  # not both
    assert registry.hook.greet(name="x") == []


def test_hook_calls_during_reloads_see_one_version(hooked: PluginManager, sources: Path) -> None:
    folder = greeter(sources, "busy")
    run_py = folder / "run.py"
    # A reload registers the new version before on_disable/on_enable run: make that long.
    slow = "    def on_enable(self):\n        import time\n        time.sleep(0.01)\n"
    run_py.write_text(run_py.read_text() + slow)
    hooked.install(folder, enable=True, editable=True)
    answers: list[list[str]] = []
    stop = threading.Event()

    def call() -> None:
        while not stop.is_set():
            answers.append(hooked.hook.greet(name="n"))
            time.sleep(0.0005)  # let the reloading thread have the GIL too

    caller = threading.Thread(target=call)
    caller.start()
    try:
        for i in range(15):
            text = run_py.read_text()
            run_py.write_text(text.replace(text.split("VERSION = ")[1].split("\n")[0], f"'{i}'"))
            hooked.reload("busy")
    finally:
        stop.set()
        caller.join()
    assert len({a[0] for a in answers if a}) > 1  # calls did overlap the reloads
    assert [a for a in answers if len(a) != 1] == []


def test_import_lazyext_does_not_import_pluggy() -> None:
    result = run_python(
        "import sys, lazyext\nlazyext.activate({})\n"
        "print('pluggy' in sys.modules)\n"
        "lazyext.PluginManager\n"  # lazyext.plugins is where pluggy comes in
        "print('pluggy' in sys.modules)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


def test_the_public_names() -> None:
    assert hookimpl.project_name == hookspec.project_name == "lazyext"
    hooks = {name for name in dir(LifecycleSpec) if name.startswith("lazyext_")}
    assert hooks == {
        "lazyext_extension_installed",
        "lazyext_plugin_disabled",
        "lazyext_plugin_enabled",
        "lazyext_plugin_failed",
        "lazyext_plugin_installed",
        "lazyext_plugin_reloaded",
        "lazyext_plugin_uninstalled",
    }


def test_a_first_import_that_installs_calls_the_hook_once(
    wheelhouse: Wheelhouse, cache_dir: Path
) -> None:
    """The core's install path tells the hook what it published: the extension, its new
    install directories and the import that asked; an import from the cache does not."""
    manager = PluginManager()
    audit = Audit()
    manager.register(audit)
    try:
        lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **wheelhouse.options(cache_dir))
        import tinyyaml  # type: ignore[import-not-found]

        assert audit.seen == [("extension", "tinyyaml", "tinyyaml", "2")]  # and tinydep
        lazyext.deactivate()
        del sys.modules["tinyyaml"]
        lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **wheelhouse.options(cache_dir))
        import tinyyaml  # noqa: F401, F811

        assert len(audit.seen) == 1  # served from the cache: nothing installed
    finally:
        manager.close()
