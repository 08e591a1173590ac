"""The seed's ("manager" design) plugin shapes: its run.py, its usage, its import names."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from plugkit import events, write_tree

from lazyext.plugins import Plugin, PluginManager

#: The seed's "Creating a Plugin" example, verbatim but for the one documented line:
#: ``from manager.plManager.loader import Plugin`` -> ``from lazyext.plugins import Plugin``.
SEED_INIT = """\
# plugins/my_plugin/__init__.py

PLUGIN_INFO = {
    "id": "my_plugin",
    "name": "My Plugin",
    "version": "1.0.0",
    "description": "A sample plugin",
    "author": "Developer",
    "dependencies": []
}

from fastapi import APIRouter

router = APIRouter(prefix="/my_plugin")

@router.get("/hello")
async def hello():
    return {"message": "Hello from My Plugin"}
"""
SEED_RUN = '''\
# plugins/my_plugin/run.py
from lazyext.plugins import Plugin

class Plugin(Plugin):
    def on_enable(self):
        """Called when plugin is enabled"""
        pass

    def on_disable(self):
        """Called when plugin is disabled"""
        pass
'''


def seed_plugin(base: Path, folder: str = "my_plugin") -> Path:
    write_tree(base, {f"{folder}/__init__.py": SEED_INIT, f"{folder}/run.py": SEED_RUN})
    return base / folder


def test_the_seed_plugin_enables_with_the_one_line_change(
    manager: PluginManager, sources: Path
) -> None:
    info = manager.install(seed_plugin(sources), enable=True)
    assert (info.id, info.status) == ("my_plugin", "enabled")
    entry = manager.get("my_plugin")
    assert isinstance(entry, Plugin)
    assert dict(entry.arguments) == {}
    assert importlib.import_module("my_plugin").router.prefix == "/my_plugin"
    manager.disable("my_plugin")


def test_the_seed_plugin_management_example_runs_as_written(
    make_manager: Callable[..., PluginManager], sources: Path
) -> None:
    folder = seed_plugin(sources)
    Manager = make_manager()  # the one change: `from manager import Manager`

    # -- the seed's example, verbatim from here (the path is the test's folder) --
    # Install a plugin
    plugin = Manager.install(str(folder))

    # Enable the plugin
    Manager.enable(plugin.id)

    # List all plugins
    plugins = Manager.list_plugins()

    # Hot reload a plugin
    Manager.reload(plugin.id)

    # Uninstall a plugin
    Manager.uninstall(plugin.id)
    # -- end of the seed's example --

    assert [p.id for p in plugins] == ["my_plugin"]
    assert Manager.list_plugins() == []
    assert Manager.get_plugin("my_plugin") is None


def test_the_base_class_hands_over_arguments_and_has_no_op_hooks(
    make_manager: Callable[..., PluginManager], sources: Path, log: Path
) -> None:
    write_tree(
        sources,
        {
            "greeter/__init__.py": "PLUGIN_INFO = {'id': 'greeter', 'version': '1'}\n",
            "greeter/run.py": (
                "from lazyext.plugins import Plugin as Base\n"
                "class Plugin(Base):\n"
                "    def on_enable(self):\n"
                "        with open(self.arguments['log'], 'a') as f:\n"
                "            f.write(self.arguments['greeting'] + '\\n')\n"
            ),
        },
    )
    manager = make_manager(arguments={"greeter": {"greeting": "hello", "log": str(log)}})
    manager.install(sources / "greeter", enable=True)
    assert events(log) == ["hello"]
    entry = manager.get("greeter")
    assert isinstance(entry, Plugin)
    with pytest.raises(TypeError):
        entry.arguments["greeting"] = "changed"  # type: ignore[index]
    manager.disable("greeter")  # the base's on_disable: nothing happens, nothing fails
    assert manager.info("greeter").last_error is None
    base = Plugin()
    base.on_enable()
    base.on_disable()


def test_the_import_name_comes_from_the_manifest_not_the_folder(
    manager: PluginManager, sources: Path
) -> None:
    info = manager.install(seed_plugin(sources, folder="my_plugin_v2"), enable=True)
    assert info.manifest.package == "my_plugin"
    module = importlib.import_module("my_plugin")
    assert module.__file__ is not None
    assert "my_plugin_v2" not in sys.modules
    write_tree(
        sources,
        {
            "checkout-main/__init__.py": (
                "PLUGIN_INFO = {'id': 'my-tool', 'version': '1', 'entry': '.'}\n"
            ),
            "named_v3/__init__.py": (
                "PLUGIN_INFO = {'id': 'named', 'version': '1', 'entry': '.', "
                "'package': 'named_pkg'}\n"
            ),
        },
    )
    assert manager.install(sources / "checkout-main").manifest.package == "my_tool"
    assert manager.install(sources / "named_v3").manifest.package == "named_pkg"
    manager.disable("my_plugin")


def test_plugins_log_under_lazyext_plugins(
    manager: PluginManager, sources: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_tree(
        sources,
        {
            "grumpy/__init__.py": "PLUGIN_INFO = {'id': 'grumpy', 'version': '1'}\n",
            "grumpy/run.py": (
                "class Plugin:\n    def on_disable(self):\n        raise RuntimeError('no')\n"
            ),
        },
    )
    manager.install(sources / "grumpy", enable=True)
    with caplog.at_level(logging.WARNING, logger="lazyext"):
        manager.disable("grumpy")
    assert [record.name for record in caplog.records] == ["lazyext.plugins"]
