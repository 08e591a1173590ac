"""Reload and hot reload: a broken version never replaces a working one."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from plugkit import RUN, events, plugin_files, write_folder, write_tree

from lazyext.plugins import PluginEnableError, PluginManager
from lazyext.plugins._reload import Watcher


def _run_py(version: str, on_enable: str = "pass") -> str:
    return RUN.format(
        version=version,
        env="LAZYEXT_TEST_PLUGIN_LOG",
        on_enable=f"        {on_enable}",
        on_disable="        pass",
    )


def _plugin_modules(name: str) -> dict[str, object]:
    return {k: v for k, v in sys.modules.items() if k.split(".")[0] == name}


def wait_for(condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Wait (generously) for the hot-reload thread; not an assertion about speed."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def test_reload_runs_disable_reimport_enable(
    manager: PluginManager, sources: Path, log: Path
) -> None:
    info = manager.install(write_folder(sources, "rel"), enable=True)
    Path(info.path, "rel", "run.py").write_text(_run_py("1.0-edited"))
    after = manager.reload("rel")
    assert after.revision == info.revision + 1
    assert events(log) == ["enable 1.0", "disable 1.0", "enable 1.0-edited"]
    assert importlib.import_module("rel.run").VERSION == "1.0-edited"
    assert manager.get("rel").version == "1.0-edited"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("VERSION = (\n", "SyntaxError"),
        ("import rel.helper\nraise RuntimeError('half way')\n", "half way"),
    ],
    ids=["syntax-error", "raises-after-importing-a-submodule"],
)
def test_failed_reload_keeps_the_previous_version(
    manager: PluginManager, sources: Path, log: Path, broken: str, message: str
) -> None:
    info = manager.install(
        write_folder(sources, "rel", extra={"rel/helper.py": "H = 1\n"}), enable=True
    )
    running = manager.get("rel")
    before = _plugin_modules("rel")
    Path(info.path, "rel", "run.py").write_text(broken)
    with pytest.raises(PluginEnableError, match=message) as raised:
        manager.reload("rel")
    assert raised.value.previous_kept
    assert manager.get("rel") is running
    assert _plugin_modules("rel") == before  # the same module objects, nothing half-imported
    assert "rel.helper" not in before
    recorded = manager.info("rel")
    assert (recorded.enabled, recorded.status, recorded.revision) == (
        True,
        "enabled",
        info.revision,
    )
    assert recorded.last_error is not None
    assert message in recorded.last_error
    assert events(log) == ["enable 1.0"]  # the running version was never disabled


def test_new_on_enable_failing_brings_the_old_version_back(
    manager: PluginManager, sources: Path, log: Path
) -> None:
    info = manager.install(write_folder(sources, "rel"), enable=True)
    running = manager.get("rel")
    Path(info.path, "rel", "run.py").write_text(_run_py("2.0", "raise KeyError('config')"))
    with pytest.raises(PluginEnableError, match="previous version was re-enabled"):
        manager.reload("rel")
    assert manager.get("rel") is running
    assert sys.modules["rel.run"].VERSION == "1.0"  # type: ignore[attr-defined]
    assert events(log) == ["enable 1.0", "disable 1.0", "enable 1.0"]


def test_hot_reload_after_a_real_change_and_after_a_broken_one(
    make_manager: Callable[..., PluginManager], sources: Path, log: Path, tmp_path: Path
) -> None:
    config = tmp_path / "lazyext.toml"
    config.write_text(
        "[plugins]\nhot-reload = true\nreload-interval = 0.05\nreload-debounce = 0.1\n"
    )
    manager = make_manager(config=config)
    info = manager.install(write_folder(sources, "hot"), enable=True)
    manager.start()
    run_py = Path(info.path, "hot", "run.py")

    run_py.write_text(_run_py("1.1"))
    wait_for(lambda: manager.get("hot").version == "1.1", "the edited plugin to be reloaded")  # type: ignore[attr-defined]
    assert events(log) == ["enable 1.0", "disable 1.0", "enable 1.1"]
    assert manager.get("hot").version == "1.1"  # type: ignore[attr-defined]
    assert manager.info("hot").last_error is None

    run_py.write_text("VERSION = 'broken'\ndef (:\n")
    wait_for(lambda: "SyntaxError" in (manager.info("hot").last_error or ""), "the error")
    assert manager.get("hot").version == "1.1"  # type: ignore[attr-defined]
    assert sys.modules["hot.run"].VERSION == "1.1"  # type: ignore[attr-defined]
    assert manager.info("hot").status == "enabled"
    assert events(log)[-1] == "enable 1.1"

    run_py.write_text(_run_py("1.2.fixed"))
    wait_for(lambda: manager.info("hot").last_error is None, "the error to be cleared")
    assert events(log)[-1] == "enable 1.2.fixed"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_changes_are_debounced(
    make_manager: Callable[..., PluginManager], sources: Path, log: Path
) -> None:
    manager = make_manager(hot_reload=True)  # not started: this test polls by hand
    info = manager.install(write_folder(sources, "deb"), enable=True)
    clock = FakeClock()
    watcher = Watcher(manager, interval=1.0, debounce=5.0, clock=clock)
    run_py = Path(info.path, "deb", "run.py")
    assert watcher.poll() == []  # baseline
    for step, version in enumerate(("1.1", "1.22", "1.333")):  # an editor saving three times
        run_py.write_text(_run_py(version))
        clock.now += 1.0 + step
        assert watcher.poll() == []
    clock.now += 4.0
    assert watcher.poll() == []  # the last change is only 4 s old
    clock.now += 1.0
    assert watcher.poll() == ["deb"]
    assert events(log) == ["enable 1.0", "disable 1.0", "enable 1.333"]
    clock.now += 100.0
    assert watcher.poll() == []  # nothing changed since


def test_bytecode_of_a_same_size_same_second_edit_is_not_reused(
    manager: PluginManager, sources: Path
) -> None:
    import os
    import py_compile

    info = manager.install(write_folder(sources, "pyc"), enable=True)
    run_py = Path(info.path, "pyc", "run.py")
    stamp = int(time.time()) - 100
    for old, new in (("1.0", "1.1"), ("1.1", "1.2")):  # same length, same mtime second
        run_py.write_text(_run_py(old))
        os.utime(run_py, (stamp, stamp))
        py_compile.compile(str(run_py))  # what an import with bytecode writing leaves
        run_py.write_text(_run_py(new))
        os.utime(run_py, (stamp, stamp))
        manager.reload("pyc")
        assert manager.get("pyc").version == new  # type: ignore[attr-defined]


@pytest.mark.parametrize("how", ["disable-enable", "reload-elsewhere"])
def test_enabling_again_does_not_reuse_bytecode_of_a_same_second_edit(
    make_manager: Callable[..., PluginManager], sources: Path, how: str
) -> None:
    import os
    import py_compile

    manager = make_manager()
    info = manager.install(write_folder(sources, "pyc2"), enable=True)
    run_py = Path(info.path, "pyc2", "run.py")
    stamp = int(time.time()) - 100
    run_py.write_text(_run_py("1.1"))
    os.utime(run_py, (stamp, stamp))
    py_compile.compile(str(run_py))  # what an import with bytecode writing leaves
    run_py.write_text(_run_py("1.2"))  # the same size, in the same second
    os.utime(run_py, (stamp, stamp))
    if how == "disable-enable":
        manager.disable("pyc2")
        manager.enable("pyc2")
    else:  # `lazyext plugins reload` in a process that has not imported it
        manager.close()
        manager = make_manager()
        manager.reload("pyc2")
    assert manager.get("pyc2").version == "1.2"  # type: ignore[attr-defined]


def test_reload_picks_up_changed_helpers_and_top_level_siblings(
    manager: PluginManager, sources: Path
) -> None:
    files = plugin_files(
        "helped",
        on_enable="import helped.helper, helped_sibling",
        extra={"helped/helper.py": "N = 1\n", "helped_sibling.py": "S = 1\n"},
    )
    info = manager.install(write_tree(sources / "h", files), enable=True)
    assert (sys.modules["helped.helper"].N, sys.modules["helped_sibling"].S) == (1, 1)  # type: ignore[attr-defined]
    Path(info.path, "helped", "helper.py").write_text("N = 22\n")
    Path(info.path, "helped_sibling.py").write_text("S = 22\n")
    manager.reload("helped")
    assert (sys.modules["helped.helper"].N, sys.modules["helped_sibling"].S) == (22, 22)  # type: ignore[attr-defined]


def test_reload_where_it_is_not_running_imports_it_once(
    make_manager: Callable[..., PluginManager], sources: Path, log: Path
) -> None:
    # `lazyext plugins reload ID`: the command's own process has not imported it yet.
    first = make_manager()
    info = first.install(write_folder(sources, "once"), enable=True)
    first.close()
    log.write_text("")
    fresh = make_manager()
    after = fresh.reload("once")
    assert events(log) == ["enable 1.0"]  # not enable, disable, enable
    assert (after.status, after.revision) == ("enabled", info.revision + 1)
    assert fresh.loaded() == ["once"]
