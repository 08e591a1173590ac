"""Several processes share the plugin state: concurrent changes, auto-enable, following."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from plugkit import events, write_folder

from lazyext.plugins import PluginManager

from support import run_python

CHANGER = """
import sys
from pathlib import Path
from lazyext.plugins import PluginManager

role, sources, config, rounds = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
with PluginManager(config) as manager:
    for i in range(rounds):
        if role == "one":
            manager.enable("a")
            manager.disable("a")
            manager.snapshot("b", f"one {i}")
        else:
            manager.enable("b")
            manager.disable("b")
            manager.snapshot("a", f"two {i}")
        manager.install(sources / f"{role}-{i}" / "c")
    if role == "one":
        manager.enable("a")
print("done")
"""


def _write_c(sources: Path, role: str, rounds: int) -> None:
    major = "1" if role == "one" else "2"
    for i in range(rounds):
        write_folder(sources / f"{role}-{i}", "c", version=f"{major}.0.{i}")


def test_two_processes_changing_plugin_state_at_once(
    manager: PluginManager, sources: Path, tmp_path: Path, plugins_dir: Path
) -> None:
    rounds = 12
    config = tmp_path / "lazyext.toml"
    config.write_text("[plugins]\nkeep-snapshots = 1000\n")
    for name in ("a", "b", "c"):
        manager.install(write_folder(sources / "base", name))
    for role in ("one", "two"):
        _write_c(sources, role, rounds)
    script = tmp_path / "changer.py"
    script.write_text(CHANGER)
    children = [
        subprocess.Popen(
            [sys.executable, str(script), role, str(sources), str(config), str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in ("one", "two")
    ]
    results = [child.communicate(timeout=300) for child in children]
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
        assert out.strip() == "done"

    states = {info.id: info for info in manager.list()}
    assert (states["a"].enabled, states["b"].enabled) == (True, False)
    c = states["c"]
    assert c.version in (f"1.0.{rounds - 1}", f"2.0.{rounds - 1}")
    # The pointer and the files agree: the recorded version is the one on disk.
    init = Path(c.path, "c", "__init__.py").read_text()
    assert ast.literal_eval(init.split("=", 1)[1].splitlines()[0])["version"] == c.version
    assert c.revision == 1 + 2 * rounds
    snapshots = {name: manager.snapshots(name) for name in ("a", "b", "c")}
    assert [len(snapshots[name]) for name in ("a", "b", "c")] == [rounds, rounds, 2 * rounds]
    for snapshot in [s for group in snapshots.values() for s in group]:
        assert Path(snapshot.files).is_dir()
    assert len(list((plugins_dir / "c" / "versions").iterdir())) <= 2
    assert list((plugins_dir / ".lazyext" / "staging").iterdir()) == []


def test_auto_enable_at_start_in_a_fresh_process(
    manager: PluginManager, sources: Path, log: Path, tmp_path: Path
) -> None:
    manager.install(write_folder(sources, "auto"), enable=True)
    manager.install(write_folder(sources, "off"))
    boom = manager.install(write_folder(sources, "boom"), enable=True)
    manager.close()  # this process is done with them: on_disable, the state is kept
    Path(boom.path, "boom", "run.py").write_text("raise RuntimeError('boom')\n")
    assert len(events(log)) == 4
    code = """
        from lazyext.plugins import PluginManager
        manager = PluginManager({config})
        errors = manager.start()
        print(manager.loaded(), sorted(errors))
        manager.close()
    """
    started = run_python(code.format(config=""))
    assert started.returncode == 0, started.stderr
    assert started.stdout.split("\n")[0] == "['auto'] ['boom']"
    assert events(log)[4:] == ["enable 1.0", "disable 1.0"]  # "auto" only
    assert "RuntimeError: boom" in (manager.info("boom").last_error or "")
    config = tmp_path / "off.toml"
    config.write_text("[plugins]\nauto-enable = false\n")
    quiet = run_python(code.format(config=repr(str(config))))
    assert quiet.stdout.split("\n")[0] == "[] []", quiet.stderr


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_python(f"from lazyext.cli import main; raise SystemExit(main({list(args)!r}))")


def wait_for(condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def test_a_running_application_follows_the_cli(
    make_manager: Callable[..., PluginManager], sources: Path, tmp_path: Path
) -> None:
    config = tmp_path / "lazyext.toml"
    config.write_text(
        textwrap.dedent(
            """\
            [plugins]
            hot-reload = true
            reload-interval = 0.05
            reload-debounce = 0.05
            """
        )
    )
    app = make_manager(config=config)
    info = app.install(write_folder(sources / "1", "follow"), enable=True)
    app.start()
    first = app.get("follow")

    assert _cli("plugins", "disable", "follow").returncode == 0
    wait_for(lambda: app.loaded() == [], "the application to unload the plugin")
    assert _cli("plugins", "enable", "follow").returncode == 0
    wait_for(lambda: app.loaded() == ["follow"], "the application to load the plugin")
    second = app.get("follow")
    assert second is not first

    assert _cli("plugins", "reload", "follow").returncode == 0
    wait_for(lambda: app.get("follow") is not second, "the application to reload the plugin")

    upgrade = write_folder(sources / "2", "follow", version="2.0")
    assert _cli("plugins", "install", str(upgrade)).returncode == 0
    wait_for(
        lambda: getattr(app.get("follow"), "version", None) == "2.0", "the application to upgrade"
    )
    assert app.info("follow").path != info.path

    assert _cli("plugins", "uninstall", "follow").returncode == 0
    wait_for(lambda: app.loaded() == [], "the application to drop the plugin")
    assert "follow" not in sys.modules


def test_enabling_a_failed_plugin_elsewhere_is_a_new_attempt_here(
    make_manager: Callable[..., PluginManager],
    sources: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The application could not enable it (a missing file, say) and waits for a change;
    # `lazyext plugins enable` after the fix is that change.
    flag = tmp_path / "not-ready"
    monkeypatch.setenv("FLAKY_FLAG", str(flag))
    on_enable = "import os\nif os.path.exists(os.environ['FLAKY_FLAG']): raise OSError('not ready')"
    installer = make_manager()
    installer.install(write_folder(sources, "flaky", on_enable=on_enable), enable=True)
    installer.close()
    flag.touch()
    app = make_manager()
    assert set(app.start()) == {"flaky"}
    assert app.info("flaky").status == "failed"
    assert app.sync() == {}  # nothing changed: no new attempt
    assert app.loaded() == []
    flag.unlink()
    assert _cli("plugins", "enable", "flaky").returncode == 0
    assert app.sync() == {}
    assert app.loaded() == ["flaky"]
    assert app.info("flaky").status == "enabled"
