"""Install, enable, disable, uninstall: folders, zips, wheels and requirements."""

from __future__ import annotations

import importlib
import sqlite3
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from plugkit import events, plugin_files, tree_of, write_folder, write_tree, write_wheel, write_zip

import lazyext
from lazyext.plugins import (
    ManifestError,
    PluginEnableError,
    PluginManager,
    PluginNotFound,
    RestartRequired,
)

from support import Wheelhouse


def test_folder_install_enable_disable_uninstall(
    manager: PluginManager, sources: Path, log: Path, plugins_dir: Path
) -> None:
    folder = write_folder(sources, "hello", version="1.0", info={"author": "Ann", "name": "Hello"})
    info = manager.install(folder)
    assert (info.id, info.name, info.version, info.author) == ("hello", "Hello", "1.0", "Ann")
    assert (info.enabled, info.status) == (False, "disabled")
    assert Path(info.path, "hello", "run.py").is_file()
    assert str(plugins_dir) in info.path
    assert events(log) == []  # installing runs no plugin code

    with pytest.raises(ImportError, match="plugin 'hello' is disabled"):
        importlib.import_module("hello")

    enabled = manager.enable("hello")
    assert (enabled.enabled, enabled.status, enabled.last_error) == (True, "enabled", None)
    assert events(log) == ["enable 1.0"]
    module = importlib.import_module("hello.run")
    assert module.__file__ is not None
    assert module.__file__.startswith(info.path)
    assert manager.get("hello").enabled is True  # type: ignore[attr-defined]

    disabled = manager.disable("hello")
    assert (disabled.enabled, disabled.status) == (False, "disabled")
    assert events(log) == ["enable 1.0", "disable 1.0"]
    assert not [name for name in sys.modules if name.split(".")[0] == "hello"]

    removed = manager.uninstall("hello")
    assert removed.id == "hello"
    assert manager.list() == []
    assert tree_of(plugins_dir / "hello") == []
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("hello")
    with pytest.raises(PluginNotFound):
        manager.info("hello")


def test_zip_and_wrapped_zip_install(manager: PluginManager, sources: Path) -> None:
    plain = write_zip(sources / "zipped.zip", plugin_files("zipped", version="2.0"))
    assert manager.install(plain, enable=True).version == "2.0"
    assert importlib.import_module("zipped.run").VERSION == "2.0"
    # GitHub-style archive: everything inside one folder that is not itself a package.
    wrapped = {f"wrapped-main/{k}": v for k, v in plugin_files("wrapped").items()}
    info = manager.install(write_zip(sources / "wrapped.zip", wrapped))
    assert Path(info.path, "wrapped", "run.py").is_file()
    # A zip whose top is the package itself is named after the manifest id.
    bare = {k.split("/", 1)[1]: v for k, v in plugin_files("x", plugin_id="bare-one").items()}
    assert manager.install(write_zip(sources / "bare.zip", bare)).manifest.package == "bare_one"


def test_plugin_toml_manifest_and_custom_entry(manager: PluginManager, sources: Path) -> None:
    write_tree(
        sources,
        {
            "tomlplug/__init__.py": "raise RuntimeError('never imported to read the manifest')\n",
            "tomlplug/plugin.toml": (
                'id = "toml-plug"\npackage = "tomlplug"\nversion = "0.3.post1"\n'
                'description = "from toml"\n'
                'entry = "impl:Thing"\n'
            ),
            "tomlplug/impl.py": "class Thing:\n    def on_enable(self):\n        self.on = True\n",
        },
    )
    info = manager.install(sources / "tomlplug")
    assert (info.id, info.version, info.manifest.entry) == (
        "toml-plug",
        "0.3.post1",
        "tomlplug.impl:Thing",
    )
    with pytest.raises(PluginEnableError, match="never imported"):
        manager.enable("toml-plug")  # importing the package runs its __init__: it raises


def test_wheel_file_and_requirement_install(
    manager: PluginManager, wheelhouse: Wheelhouse, sources: Path
) -> None:
    wheel = write_wheel(sources, "wheelplug", "wheelplug", "1.2")
    info = manager.install(wheel, enable=True)
    assert (info.id, info.version, info.description) == ("wheelplug", "1.2", "wheelplug plugin")
    assert importlib.import_module("wheelplug.run").VERSION == "1.2"

    write_wheel(wheelhouse.path, "Req-Plug", "reqplug", "3.0", plugin_id="req-plug")
    info = manager.install("Req-Plug==3.0", enable=True)
    assert (info.id, info.version, info.source) == ("req-plug", "3.0", "req-plug==3.0")
    module = importlib.import_module("reqplug.run")
    assert module.__file__ is not None
    assert module.__file__.startswith(manager.root)
    assert not list(Path(info.path).glob("*.dist-info"))


def test_direct_url_requirements_are_requirements(
    make_manager: Callable[..., PluginManager], wheelhouse: Wheelhouse, sources: Path
) -> None:
    # Their URL has slashes, but they are requirements, installed through the cache:
    # refused unless allow-direct-urls, as everywhere else in lazyext.
    wheel = write_wheel(sources, "url-plug", "urlplug", "2.0")
    requirement = f"url-plug @ {wheel.as_uri()}"
    with pytest.raises(lazyext.ConfigError, match="allow-direct-urls"):
        make_manager().install(requirement)
    with pytest.raises(lazyext.ConfigError, match="allow-direct-urls"):
        make_manager().install("url-plug @ https://plugins.example/url_plug-2.0.whl")
    config = Path("lazyext.toml").resolve()
    config.write_text(wheelhouse.toml() + "allow-direct-urls = true\n", encoding="utf-8")
    info = make_manager(config=str(config)).install(requirement, enable=True)
    assert (info.id, info.version, info.source) == ("url-plug", "2.0", requirement)
    assert importlib.import_module("urlplug.run").VERSION == "2.0"
    with pytest.raises(ManifestError, match="no such file or folder"):
        make_manager().install("plug@1.0.zip")  # a path after all: a missing zip


def test_dependency_from_a_local_wheel_goes_through_the_cache(
    manager: PluginManager, sources: Path, cache_dir: Path
) -> None:
    folder = write_folder(
        sources,
        "depplug",
        dependencies=["tinydep>=1"],
        extra={"depplug/use.py": "import tinydep\nVALUE = tinydep.VALUE\n"},
    )
    manager.install(folder, enable=True)
    assert importlib.import_module("depplug.use").VALUE == 41
    tinydep = sys.modules["tinydep"]
    assert tinydep.__file__ is not None
    assert tinydep.__file__.startswith(str(cache_dir))
    assert manager.info("depplug").dependencies == ("tinydep>=1",)


def test_enable_is_all_or_nothing_and_others_keep_working(
    manager: PluginManager, sources: Path, log: Path
) -> None:
    manager.install(write_folder(sources, "good"), enable=True)
    bad = write_folder(
        sources,
        "bad",
        on_enable="import bad.helper\nraise ValueError('no database')",
        extra={"bad/helper.py": "X = 1\n"},
    )
    manager.install(bad)
    with pytest.raises(PluginEnableError, match="no database") as raised:
        manager.enable("bad")
    assert "ValueError: no database" in raised.value.error
    info = manager.info("bad")
    assert (info.enabled, info.status) == (False, "failed")
    assert info.last_error is not None
    assert "no database" in info.last_error
    assert not [name for name in sys.modules if name.split(".")[0] == "bad"]
    with pytest.raises(ImportError, match="disabled"):
        importlib.import_module("bad")
    assert manager.loaded() == ["good"]
    assert manager.get("good").enabled is True  # type: ignore[attr-defined]
    assert events(log) == ["enable 1.0"]


def test_on_disable_error_is_recorded_and_disable_still_happens(
    manager: PluginManager, sources: Path
) -> None:
    manager.install(
        write_folder(sources, "sticky", on_disable="raise OSError('busy')"), enable=True
    )
    info = manager.disable("sticky")
    assert (info.enabled, info.status) == (False, "disabled")
    assert info.last_error is not None
    assert "OSError: busy" in info.last_error
    assert "sticky" not in sys.modules


def test_unload_removes_exactly_the_plugins_modules(manager: PluginManager, sources: Path) -> None:
    files = plugin_files(
        "owner",
        extra={
            "owner/deep/__init__.py": "",
            "owner/deep/leaf.py": "import owner_sibling\n",
            "owner_sibling.py": "Y = 2\n",
        },
        on_enable="import owner.deep.leaf",
    )
    write_tree(sources / "owner-src", files)
    info = manager.install(sources / "owner-src", enable=True)
    assert set(info.manifest.modules) == {"owner", "owner_sibling"}
    import json  # noqa: F401  (an unrelated module that must survive)

    mine = {"owner", "owner.run", "owner.deep", "owner.deep.leaf", "owner_sibling"}
    assert mine <= set(sys.modules)
    before = set(sys.modules) - mine
    manager.disable("owner")
    assert set(sys.modules) == before


def test_arguments_reach_the_entry_object(
    make_manager: Callable[..., PluginManager], sources: Path, tmp_path: Path
) -> None:
    config = tmp_path / "lazyext.toml"
    config.write_text(
        '[[extensions]]\nname = "argy"\n[extensions.arguments]\nfrom_extension = 1\n'
        'shared = "extension"\n[plugins.arguments.argy]\nshared = "plugins-table"\n'
    )
    manager = make_manager(config=config)
    manager.install(write_folder(sources, "argy"), enable=True)
    assert dict(manager.get("argy").arguments) == {  # type: ignore[attr-defined]
        "from_extension": 1,
        "shared": "plugins-table",
    }


def test_c_extension_plugin_reload_needs_a_restart(manager: PluginManager, sources: Path) -> None:
    import _json

    if not getattr(_json, "__file__", None):
        pytest.skip("_json is built into this interpreter")
    library = Path(_json.__file__)  # type: ignore[arg-type]
    folder = write_folder(
        sources, "cplug", on_enable="from cplug import _json\nassert _json.scanstring"
    )
    (folder / library.name).write_bytes(library.read_bytes())
    manager.install(folder, enable=True)
    with pytest.raises(RestartRequired, match="restart required"):
        manager.reload("cplug")
    assert manager.loaded() == ["cplug"]
    with pytest.raises(RestartRequired):
        manager.install(folder)  # an upgrade would have to reload it too


def test_validate_in_subprocess_survives_crash_and_hang(
    make_manager: Callable[..., PluginManager], sources: Path, tmp_path: Path
) -> None:
    config = tmp_path / "lazyext.toml"
    config.write_text("[plugins]\nvalidate-in-subprocess = true\nvalidate-timeout = 2\n")
    manager = make_manager(config=config)
    crash = write_folder(sources, "crasher", init="import ctypes\nctypes.string_at(0)\n")
    hang = write_folder(sources, "hanger", init="import time\ntime.sleep(600)\n")
    for folder, why in ((crash, "SIGSEGV"), (hang, "hung for 2 s")):
        manager.install(folder)
        with pytest.raises(PluginEnableError, match=why):
            manager.enable(folder.name)
        info = manager.info(folder.name)
        assert (info.status, info.enabled) == ("failed", False)
        assert info.last_error is not None
        assert why in info.last_error
    manager.install(write_folder(sources, "fine"), enable=True)
    assert manager.loaded() == ["fine"]


def test_names_cannot_collide_or_shadow(manager: PluginManager, sources: Path) -> None:
    # Folders that hold the package: it keeps its name whatever the id.
    manager.install(write_folder(sources / "a", "shared_name", plugin_id="first").parent)
    with pytest.raises(ManifestError, match="already ships shared_name"):
        manager.install(write_folder(sources / "b", "shared_name", plugin_id="second").parent)
    with pytest.raises(ManifestError, match="would hide installed module"):
        manager.install(write_folder(sources / "c", "pytest", plugin_id="not-pytest").parent)
    assert [info.id for info in manager.list()] == ["first"]


def test_state_row_has_every_field(manager: PluginManager, sources: Path, tmp_path: Path) -> None:
    manager.install(write_folder(sources, "fields", dependencies=["tinydep"]), enable=True)
    with closing(sqlite3.connect(tmp_path / "data" / "state.sqlite3")) as connection:
        connection.row_factory = sqlite3.Row
        row = dict(connection.execute("SELECT * FROM plugins").fetchone())
    expected = {"id", "name", "version", "description", "author", "enabled", "installed_at"}
    expected |= {"path", "manifest", "dependencies", "status", "last_error"}
    assert expected <= set(row)
    assert (row["id"], row["enabled"], row["dependencies"]) == ("fields", 1, '["tinydep"]')


def test_public_export() -> None:
    assert lazyext.PluginManager is PluginManager
    assert "PluginManager" in lazyext.__all__


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("hot-reload = 'yes'", "hot-reload: expected bool"),
        ("colour = 1", "colour: unknown setting"),
        ("reload-interval = -1", "must not be negative"),
        ("keep-snapshots = 1.5", "keep-snapshots: expected int"),
        ("arguments = { x = 1 }", "arguments.x: expected a table"),
    ],
)
def test_plugins_table_is_validated(tmp_path: Path, table: str, message: str) -> None:
    from lazyext import ConfigError

    config = tmp_path / "lazyext.toml"
    config.write_text(f"[plugins]\n{table}\n")
    with pytest.raises(ConfigError, match=message):
        PluginManager(config)


def test_plugins_directory_is_relative_to_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "lazyext.toml"
    config.parent.mkdir()
    config.write_text("[plugins]\ndirectory = 'my-plugins'\n")
    with PluginManager(config) as manager:
        assert manager.root == str(tmp_path / "conf" / "my-plugins")
