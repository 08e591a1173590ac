"""Snapshots, restore, upgrades and the automatic rollback of a failed upgrade."""

from __future__ import annotations

import importlib
import sqlite3
import sys
import zipfile
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from plugkit import events, plugin_files, tree_of, write_folder, write_zip

from lazyext.plugins import ManifestError, PluginEnableError, PluginManager, PluginNotFound

from support import run_python


def _versions(plugins_dir: Path, plugin_id: str) -> list[str]:
    return sorted(p.name for p in (plugins_dir / plugin_id / "versions").iterdir())


def test_snapshot_list_and_restore(
    manager: PluginManager, sources: Path, log: Path, plugins_dir: Path
) -> None:
    first = manager.install(write_folder(sources / "v1", "snap", version="1.0"), enable=True)
    snapshot = manager.snapshot("snap", "known good")
    assert (snapshot.id, snapshot.version, snapshot.note) == (1, "1.0", "known good")
    assert Path(snapshot.files, "snap", "run.py").is_file()
    assert snapshot.state["enabled"] is True

    manager.install(write_folder(sources / "v2", "snap", version="2.0"))
    assert manager.info("snap").version == "2.0"
    assert [s.note for s in manager.snapshots("snap")] == ["known good", "before installing 2.0"]

    restored = manager.restore("snap", snapshot.id)
    assert (restored.version, restored.enabled, restored.status) == ("1.0", True, "enabled")
    assert restored.path not in (first.path, snapshot.files)
    assert restored.revision > first.revision
    assert restored.installed_at == first.installed_at
    assert manager.get("snap").version == "1.0"  # type: ignore[attr-defined]
    assert sys.modules["snap.run"].__file__.startswith(restored.path)  # type: ignore[union-attr]
    assert events(log) == ["enable 1.0", "disable 1.0", "enable 2.0", "disable 2.0", "enable 1.0"]
    assert Path(snapshot.files, "snap", "run.py").is_file()  # the snapshot stays usable


def test_restore_brings_back_the_recorded_state(
    manager: PluginManager, sources: Path, log: Path
) -> None:
    manager.install(write_folder(sources, "state"))
    disabled = manager.snapshot("state")
    manager.enable("state")
    info = manager.restore("state", disabled.id)
    assert (info.enabled, info.status) == (False, "disabled")
    assert manager.loaded() == []
    assert events(log) == ["enable 1.0", "disable 1.0"]


def test_upgrade_snapshots_first_and_keeps_one_previous_version(
    manager: PluginManager, sources: Path, log: Path, plugins_dir: Path
) -> None:
    v1 = manager.install(write_folder(sources / "1", "up", version="1.0"), enable=True)
    v2 = manager.install(write_folder(sources / "2", "up", version="2.0"))
    assert (v2.version, v2.enabled) == ("2.0", True)  # an enabled plugin stays enabled
    assert events(log) == ["enable 1.0", "disable 1.0", "enable 2.0"]
    assert _versions(plugins_dir, "up") == sorted(Path(p).name for p in (v1.path, v2.path))
    v3 = manager.install(write_folder(sources / "3", "up", version="3.0"))
    assert _versions(plugins_dir, "up") == sorted(Path(p).name for p in (v2.path, v3.path))
    assert [s.version for s in manager.snapshots("up")] == ["1.0", "2.0"]


def test_failed_upgrade_rolls_back_by_itself(
    manager: PluginManager, sources: Path, log: Path, plugins_dir: Path
) -> None:
    v1 = manager.install(write_folder(sources / "1", "roll", version="1.0"), enable=True)
    running = manager.get("roll")
    bad = write_folder(sources / "2", "roll", version="2.0", on_enable="raise RuntimeError('v2')")
    with pytest.raises(PluginEnableError, match=r"rolled back to 1\.0") as raised:
        manager.install(bad)
    assert raised.value.previous_kept
    info = manager.info("roll")
    assert (info.version, info.enabled, info.status, info.path) == ("1.0", True, "enabled", v1.path)
    assert info.last_error is not None
    assert "RuntimeError: v2" in info.last_error
    assert manager.get("roll") is running
    assert sys.modules["roll.run"].VERSION == "1.0"  # type: ignore[attr-defined]
    assert events(log) == ["enable 1.0", "disable 1.0", "enable 1.0"]
    assert _versions(plugins_dir, "roll") == [Path(v1.path).name]  # 2.0 left nothing behind
    assert [s.note for s in manager.snapshots("roll")] == ["before installing 2.0"]


def test_failed_upgrade_in_another_process_rolls_back_too(
    manager: PluginManager, sources: Path, log: Path
) -> None:
    manager.install(write_folder(sources / "1", "far", version="1.0"), enable=True)
    bad = write_folder(sources / "2", "far", version="2.0", on_enable="raise RuntimeError('v2')")
    command = ["plugins", "install", str(bad)]
    cli = run_python(f"from lazyext.cli import main; raise SystemExit(main({command!r}))")
    assert cli.returncode == 1, cli.stderr
    assert "rolled back to 1.0" in cli.stderr
    assert manager.sync() == {}  # nothing changed for the application
    assert manager.get("far").version == "1.0"  # type: ignore[attr-defined]
    assert manager.info("far").version == "1.0"
    assert events(log) == ["enable 1.0"]  # 2.0 raised in the CLI; 1.0 runs on here


def test_upgrade_that_does_not_compile_changes_nothing(
    manager: PluginManager, sources: Path, plugins_dir: Path
) -> None:
    v1 = manager.install(write_folder(sources / "1", "comp", version="1.0"), enable=True)
    bad = write_folder(sources / "2", "comp", version="2.0", extra={"comp/broken.py": "def (:\n"})
    with pytest.raises(ManifestError, match="do not compile"):
        manager.install(bad)
    assert manager.info("comp").path == v1.path
    assert manager.snapshots("comp") == []
    assert _versions(plugins_dir, "comp") == [Path(v1.path).name]


def test_failed_restore_keeps_the_current_version(
    manager: PluginManager, sources: Path, plugins_dir: Path
) -> None:
    manager.install(write_folder(sources / "1", "rest", version="1.0"), enable=True)
    snapshot = manager.snapshot("rest")
    current = manager.install(write_folder(sources / "2", "rest", version="2.0"))
    # The snapshot's copy goes bad (a disk error, a hand edit): restoring it must fail cleanly.
    Path(snapshot.files, "rest", "run.py").write_text("raise ImportError('corrupt')\n")
    with pytest.raises(PluginEnableError, match="restoring snapshot 1 failed"):
        manager.restore("rest", snapshot.id)
    info = manager.info("rest")
    assert (info.version, info.path) == ("2.0", current.path)
    assert manager.get("rest").version == "2.0"  # type: ignore[attr-defined]
    assert len(_versions(plugins_dir, "rest")) == 2
    with pytest.raises(PluginNotFound, match="no snapshot 99"):
        manager.restore("rest", 99)


def test_snapshot_retention_and_uninstall_cleanup(
    make_manager: Callable[..., PluginManager], sources: Path, tmp_path: Path, plugins_dir: Path
) -> None:
    config = tmp_path / "lazyext.toml"
    config.write_text("[plugins]\nkeep-snapshots = 2\n")
    manager = make_manager(config=config)
    manager.install(write_folder(sources, "keep"))
    taken = [manager.snapshot("keep", f"n{i}") for i in range(4)]
    kept = manager.snapshots("keep")
    assert [s.note for s in kept] == ["n2", "n3"]
    assert not Path(taken[0].path).exists()
    assert Path(taken[3].path).exists()
    manager.uninstall("keep")
    assert tree_of(plugins_dir / "keep") == []
    with closing(sqlite3.connect(tmp_path / "data" / "state.sqlite3")) as connection:
        assert connection.execute("SELECT count(*) FROM plugin_snapshots").fetchone()[0] == 0
    with pytest.raises(PluginNotFound):
        manager.snapshots("keep")


def _digest(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_upgrade_failing_halfway_leaves_everything_byte_identical(
    manager: PluginManager, sources: Path, tmp_path: Path, plugins_dir: Path
) -> None:
    from lazyext import InstallError

    manager.install(write_folder(sources / "1", "half", version="1.0"), enable=True)
    manager.snapshot("half", "kept")
    before = _digest(plugins_dir / "half")
    unsatisfiable = write_folder(sources / "2", "half", version="2.0", dependencies=["tinydep>=99"])
    with pytest.raises(InstallError):
        manager.install(unsatisfiable)
    liar = tmp_path / "liar.zip"
    write_zip(liar, plugin_files("half", version="3.0"))
    with zipfile.ZipFile(liar) as archive:
        offset = archive.getinfo("half/run.py").header_offset
    data = bytearray(liar.read_bytes())
    data[offset + 30 + len("half/run.py") + 5] ^= 0xFF  # corrupt the compressed run.py
    liar.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="damaged"):
        manager.install(liar)
    assert _digest(plugins_dir / "half") == before
    assert list((plugins_dir / ".lazyext" / "staging").iterdir()) == []
    assert manager.info("half").version == "1.0"
    assert manager.get("half").version == "1.0"  # type: ignore[attr-defined]


def test_a_call_running_during_restore_finishes_on_the_old_code(
    manager: PluginManager, sources: Path
) -> None:
    import threading

    work = "import threading\nGATE = threading.Event()\ndef job():\n    GATE.wait(60)\n"
    v1 = {"busy/work.py": work + "    return 'one'\n"}
    v2 = {"busy/work.py": work + "    return 'two'\n"}
    manager.install(write_folder(sources / "1", "busy", version="1.0", extra=v1), enable=True)
    snapshot = manager.snapshot("busy")
    manager.install(write_folder(sources / "2", "busy", version="2.0", extra=v2))
    running = importlib.import_module("busy.work")
    results: list[str] = []
    thread = threading.Thread(target=lambda: results.append(running.job()))
    thread.start()
    restored = manager.restore("busy", snapshot.id)
    running.GATE.set()
    thread.join(60)
    assert results == ["two"]  # the call began on 2.0 and finished on 2.0's code
    fresh = importlib.import_module("busy.work")
    assert fresh is not running
    assert fresh.__file__ is not None
    assert fresh.__file__.startswith(restored.path)  # the next use gets the restored 1.0
