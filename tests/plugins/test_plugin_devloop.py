"""The author's loop: validate, editable installs, per-plugin watching, the seed's loader names."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from plugkit import RUN, events, plugin_files, tree_of, write_folder, write_tree, write_zip

from lazyext import DistributionNotFound
from lazyext.cli import main
from lazyext.plugins import (
    ManifestError,
    PluginEnableError,
    PluginError,
    PluginManager,
    Validation,
)
from lazyext.plugins._reload import Watcher

from support import Wheelhouse, published


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run_py(version: str) -> str:
    return RUN.format(
        version=version, env="LAZYEXT_TEST_PLUGIN_LOG", on_enable="        pass",
        on_disable="        pass",
    )  # fmt: skip


# -- validate: a dry run that reports everything -------------------------------------------


def test_validate_reports_every_problem_and_runs_nothing(
    manager: PluginManager, sources: Path, log: Path
) -> None:
    write_tree(
        sources,
        {
            "broken/__init__.py": (
                "PLUGIN_INFO = {'id': 'broken', 'version': 'one', 'colour': 'red',\n"
                "               'dependencies': ['ok-dep', 'bad dep ==']}\n"
                "open('ran', 'w')\n"
            ),
            "broken/run.py": "def oops(:\n",
        },
    )
    result = manager.validate(sources / "broken")
    assert isinstance(result, Validation)
    assert not result.ok
    text = "\n".join(result.problems)
    for expected in ("colour: unknown manifest key", "version:", "dependencies:", "run.py"):
        assert expected in text
    assert len(result.problems) >= 4
    assert not Path("ran").exists()
    assert manager.list() == []
    assert tree_of(Path(manager.root)) == []  # nothing written

    good = manager.validate(write_folder(sources, "fine"))
    assert good.ok
    assert good.manifest is not None
    assert (good.manifest.id, good.manifest.package) == ("fine", "fine")
    assert events(log) == []

    manager.install(sources / "fine")
    clash = manager.validate(write_folder(sources / "other", "fine", plugin_id="other").parent)
    assert any("already ships fine" in problem for problem in clash.problems)
    assert not manager.validate("some-requirement>=1").ok


def test_validate_from_the_command_line(
    capsys: pytest.CaptureFixture[str], sources: Path, plugins_dir: Path
) -> None:
    folder = write_folder(sources, "clip")
    assert main(["plugins", "validate", str(folder), "--directory", str(plugins_dir)]) == 0
    assert "ok: clip 1.0, imported as clip" in capsys.readouterr().out
    bad = write_zip(sources / "bad.zip", {"x/__init__.py": "PLUGIN_INFO = {'id': 'x'}\n"})
    argv = ["plugins", "validate", str(bad), "--json", "--directory", str(plugins_dir)]
    assert main(argv) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert any("version" in problem for problem in report["validation"]["problems"])
    assert report["error"]["problems"] == report["validation"]["problems"]


def test_validate_resolves_the_dependencies(
    manager: PluginManager,
    sources: Path,
    plugins_dir: Path,
    wheelhouse: Wheelhouse,
    cache_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = write_folder(sources / "a", "needs_missing", dependencies=["no-such-dist==9"])
    result = manager.validate(missing)
    assert not result.ok
    assert [p for p in result.problems if "no-such-dist==9" in p], result.problems
    with pytest.raises(DistributionNotFound):  # what install says too
        manager.install(missing)
    fine = write_folder(sources / "b", "needs_tinydep", dependencies=["tinydep>=1"])
    assert manager.validate(fine).problems == ()
    assert "tinydep" not in published(cache_dir)  # resolved, not installed
    # The command line, with the same index settings.
    Path("lazyext.toml").write_text(wheelhouse.toml(), encoding="utf-8")
    argv = ["plugins", "validate", "--directory", str(plugins_dir)]
    assert main([*argv, str(missing)]) == 2
    assert "no-such-dist==9" in capsys.readouterr().err
    assert main([*argv, str(fine)]) == 0


# -- editable installs -------------------------------------------------------------------


def test_an_editable_plugin_runs_from_the_authors_folder(
    manager: PluginManager, sources: Path, log: Path
) -> None:
    folder = write_folder(sources / "work", "edit_me", plugin_id="edit_me")
    renamed = folder.parent / "edit_me_v2"  # the folder's name does not matter
    folder.rename(renamed)
    info = manager.install(renamed, enable=True, editable=True)
    assert os.path.realpath(info.path) == os.path.realpath(renamed)
    assert tree_of(Path(manager.root) / "edit_me") == []  # nothing copied
    module = importlib.import_module("edit_me.run")
    assert module.__file__ == str(renamed / "run.py")

    (renamed / "run.py").write_text(_run_py("2.0-edited"))
    assert manager.reload("edit_me").revision == info.revision + 1  # picks up the edit
    assert manager.snapshots("edit_me") == []  # a code edit is a plain reload
    assert importlib.import_module("edit_me.run").VERSION == "2.0-edited"
    assert events(log) == ["enable 1.0", "disable 1.0", "enable 2.0-edited"]

    clock = FakeClock()
    watcher = Watcher(manager, interval=1.0, debounce=0.5, clock=clock)
    manager.watch("edit_me")
    assert watcher.poll() == []
    (renamed / "run.py").write_text(_run_py("3.0-edited"))
    clock.now += 1.0
    assert watcher.poll() == []
    clock.now += 1.0
    assert watcher.poll() == ["edit_me"]  # hot reload follows the author's folder
    assert importlib.import_module("edit_me.run").VERSION == "3.0-edited"

    init = renamed / "__init__.py"
    init.write_text(init.read_text().replace("'1.0'", "'1.1'"))
    assert manager.reload("edit_me").version == "1.1"  # a changed manifest is read again
    assert manager.info("edit_me").path == info.path

    manager.uninstall("edit_me")
    assert (renamed / "run.py").is_file()  # the author's folder is never deleted
    assert "edit_me" not in sys.modules


def test_an_editable_renamed_package_passes_the_trial_import_in_a_child(
    make_manager: Callable[..., PluginManager], sources: Path, log: Path
) -> None:
    folder = write_folder(sources, "trial_pkg")
    renamed = folder.parent / "trial_pkg_checkout"
    folder.rename(renamed)
    manager = make_manager(validate_in_subprocess=True)
    info = manager.install(renamed, enable=True, editable=True)
    assert (info.status, events(log)) == ("enabled", ["enable 1.0"])


def test_editable_installs_keep_the_trust_checks(manager: PluginManager, sources: Path) -> None:
    folder = write_folder(sources, "shared_edit")
    folder.chmod(0o777)
    with pytest.raises(ManifestError, match="writable by"):
        manager.install(folder, editable=True)
    folder.chmod(0o755)
    (folder / "run.py").chmod(0o666)
    with pytest.raises(ManifestError, match=r"run\.py is writable"):
        manager.install(folder, editable=True)
    (folder / "run.py").chmod(0o644)
    manager.install(folder, editable=True)
    (folder / "run.py").chmod(0o666)  # changed after the install: checked at every import
    with pytest.raises(PluginEnableError, match=r"run\.py is writable"):
        manager.enable("shared_edit")
    zipped = write_zip(sources / "z.zip", plugin_files("zipped"))
    with pytest.raises(ManifestError, match="needs a folder"):
        manager.install(zipped, editable=True)


def test_editable_from_the_command_line(
    capsys: pytest.CaptureFixture[str], sources: Path, plugins_dir: Path
) -> None:
    folder = write_folder(sources, "cli_edit")
    argv = ["plugins", "install", "--editable", str(folder), "--directory", str(plugins_dir)]
    assert main(argv) == 0
    assert f"in {os.path.realpath(folder)}" in capsys.readouterr().out
    assert main(["plugins", "info", "cli_edit", "--directory", str(plugins_dir)]) == 0
    assert "(editable: runs from this folder)" in capsys.readouterr().out
    info = ["plugins", "info", "cli_edit", "--json", "--directory", str(plugins_dir)]
    assert main(info) == 0
    assert json.loads(capsys.readouterr().out)["plugin"]["editable"] is True


# -- the seed's reloader and loader operations ----------------------------------------------


def test_watch_unwatch_and_on_change_per_plugin(
    make_manager: Callable[..., PluginManager], sources: Path
) -> None:
    # A real polling thread that never polls during the test: this one polls by hand.
    Path("lazyext.toml").write_text("[plugins]\nreload-interval = 3600\n", encoding="utf-8")
    manager = make_manager(hot_reload=False)
    one = manager.install(write_folder(sources, "w_one"), enable=True)
    two = manager.install(write_folder(sources, "w_two"), enable=True)
    seen: list[tuple[str, PluginError | None]] = []
    undo = manager.on_change("w_one", lambda plugin_id, error: seen.append((plugin_id, error)))
    clock = FakeClock()
    watcher = Watcher(manager, interval=1.0, debounce=0.5, clock=clock)

    def edit_both(version: str) -> list[str]:
        assert watcher.poll() == []
        Path(one.path, "w_one", "run.py").write_text(_run_py(version))
        Path(two.path, "w_two", "run.py").write_text(_run_py(version))
        clock.now += 1.0
        watcher.poll()
        clock.now += 1.0
        return watcher.poll()

    assert edit_both("1.1") == []  # hot-reload = false: nobody is watched
    assert not manager.watching("w_one")
    manager.watch("w_one")
    assert manager._watcher is not None  # watch() started the polling thread
    manager.start()
    assert manager.watching("w_one")
    assert not manager.watching("w_two")
    assert edit_both("1.2") == ["w_one"]
    assert seen == [("w_one", None)]
    Path(one.path, "w_one", "run.py").write_text("VERSION = (\n")
    clock.now += 1.0
    watcher.poll()
    clock.now += 1.0
    assert watcher.poll() == ["w_one"]
    assert seen[-1][0] == "w_one"
    assert isinstance(seen[-1][1], PluginEnableError)  # the failure is handed over
    undo()
    manager.unwatch("w_one")
    assert edit_both("1.3") == []
    assert len(seen) == 2


def test_watch_without_start_reloads_the_plugin(
    make_manager: Callable[..., PluginManager], sources: Path, log: Path
) -> None:
    # The seed's reloader: watch(id) alone hot-reloads, as watching(id) says it does.
    Path("lazyext.toml").write_text(
        "[plugins]\nreload-interval = 0.05\nreload-debounce = 0.05\n", encoding="utf-8"
    )
    manager = make_manager(hot_reload=False)
    info = manager.install(write_folder(sources, "solo"), enable=True)
    other = manager.install(write_folder(sources, "other_one"))
    assert not manager.watching("solo")
    manager.watch("solo")
    assert manager.watching("solo")
    Path(info.path, "solo", "run.py").write_text(_run_py("1.1"))
    deadline = time.monotonic() + 10
    while "enable 1.1" not in events(log) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert events(log) == ["enable 1.0", "disable 1.0", "enable 1.1"]
    assert importlib.import_module("solo.run").VERSION == "1.1"
    # Not started: the shared state is not followed (start() enables what is recorded).
    manager.store.update(other.id, enabled=True)
    time.sleep(0.3)
    assert manager.loaded() == ["solo"]
    manager.close()
    assert not manager.watching("solo")


def test_loader_names_load_unload_purge_cache(manager: PluginManager, sources: Path) -> None:
    info = manager.install(write_folder(sources, "ldr"))
    module = manager.load("ldr")
    assert module is sys.modules["ldr"]
    assert manager.get_plugin("ldr") == manager.info("ldr")
    run_py = Path(info.path, "ldr", "run.py")
    (run_py.parent / "__pycache__").mkdir()
    (run_py.parent / "__pycache__" / "run.cpython-311.pyc").write_bytes(b"stale")
    manager.purge_cache("ldr")
    assert not (run_py.parent / "__pycache__").exists()
    assert manager.unload("ldr").enabled is False
    assert "ldr" not in sys.modules
    assert manager.get_plugin("nope") is None
