"""Issue 12 #1, #2, #7, #14: one trust rule for every directory lazyext reads code or
state from, private state files, and bounded input.

Ownership cases need another uid: as root the tests ``chown`` to one; otherwise they
are skipped (the mode cases run for everyone).
"""

from __future__ import annotations

import importlib
import os
import sqlite3
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lazyext
from lazyext import _trust
from lazyext.plugins import PluginEnableError, PluginManager
from lazyext.tasks import TaskManager

OTHER = 4242
as_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown to another uid"
)


def _import(name: str) -> Any:
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def _plugin_folder(base: Path, package: str, on_enable: str) -> Path:
    folder = base / package
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(
        f"PLUGIN_INFO = {{'id': {package!r}, 'version': '1.0'}}\n", encoding="utf-8"
    )
    (folder / "run.py").write_text(
        "class Plugin:\n"
        "    def __init__(self, arguments):\n        pass\n"
        f"    def on_enable(self):\n        {on_enable}\n"
        "    def on_disable(self):\n        pass\n",
        encoding="utf-8",
    )
    return folder


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


# -- #1: the data directory, the database and the rows in it -------------------------


@as_root
def test_a_data_directory_of_another_user_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared-data"
    shared.mkdir(mode=0o700)
    os.chown(shared, OTHER, OTHER)
    with pytest.raises(lazyext.UnsafeCacheError, match=r"data directory.*not by you") as caught:
        TaskManager(data_dir=shared)
    assert caught.value.path == str(shared)
    with pytest.raises(lazyext.UnsafeCacheError, match="data directory"):
        PluginManager(data_dir=shared, directory=tmp_path / "plugins")
    assert list(shared.iterdir()) == []  # no database created there


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o720])
def test_a_data_directory_writable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    shared = tmp_path / "shared-data"
    shared.mkdir()
    os.chmod(shared, mode)
    with pytest.raises(lazyext.UnsafeCacheError, match="writable by group or others") as caught:
        TaskManager(data_dir=shared)
    assert f"chmod 700 {shared}" in str(caught.value)


@as_root
def test_a_state_database_of_another_user_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    database = data / "state.sqlite3"
    sqlite3.connect(database).close()
    os.chown(database, OTHER, OTHER)
    with pytest.raises(lazyext.UnsafeCacheError, match=r"state database.*not by you"):
        TaskManager(data_dir=data).list_tasks()


def test_a_symlink_at_the_state_database_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere.sqlite3"
    sqlite3.connect(elsewhere).close()
    (data / "state.sqlite3").symlink_to(elsewhere)
    with pytest.raises(lazyext.UnsafeCacheError, match=r"state database.*symlink"):
        TaskManager(data_dir=data).list_tasks()


def _point_row_at(tmp_path: Path, plugin_id: str, folder: Path) -> None:
    """Someone able to write the database points the row at a folder of their own."""
    with sqlite3.connect(tmp_path / "data" / "state.sqlite3") as connection:
        connection.execute(
            "UPDATE plugins SET path = ?, enabled = 1 WHERE id = ?", (str(folder), plugin_id)
        )
    connection.close()


@as_root
def test_a_plugin_row_naming_another_users_folder_is_refused(
    tmp_path: Path, cache_dir: Path
) -> None:
    sources, marker = tmp_path / "sources", tmp_path / "ran"
    manager = PluginManager(directory=tmp_path / "plugins", cache_dir=cache_dir)
    info = manager.install(_plugin_folder(sources, "honest", "pass"))
    manager.close()
    attacker = _plugin_folder(tmp_path / "attacker", "honest", f"open({str(marker)!r}, 'w')")
    for path in (attacker.parent, attacker, *attacker.iterdir()):
        os.chown(path, OTHER, OTHER)
    _point_row_at(tmp_path, "honest", attacker.parent)
    manager = PluginManager(directory=tmp_path / "plugins", cache_dir=cache_dir)
    try:
        failures = manager.start()
        assert "honest" in failures
        assert "owned by uid 4242" in str(failures["honest"])
        with pytest.raises(PluginEnableError, match="owned by uid 4242"):
            manager.enable("honest")
    finally:
        manager.close()
    assert not marker.exists()  # its on_enable never ran
    assert Path(info.path).is_dir()


def test_a_plugin_row_naming_a_folder_inside_the_plugins_directory_must_pass_the_rule(
    tmp_path: Path, cache_dir: Path
) -> None:
    sources, marker = tmp_path / "sources", tmp_path / "ran"
    manager = PluginManager(directory=tmp_path / "plugins", cache_dir=cache_dir)
    info = manager.install(_plugin_folder(sources, "honest", f"open({str(marker)!r}, 'w')"))
    manager.close()
    os.chmod(info.path, 0o777)  # a version folder others can write to
    manager = PluginManager(directory=tmp_path / "plugins", cache_dir=cache_dir)
    try:
        with pytest.raises(PluginEnableError, match="writable by group or others"):
            manager.enable("honest")
    finally:
        manager.close()
    assert not marker.exists()


# -- #2: the way to a directory: parents and symlinks --------------------------------


@as_root
def test_a_foreign_symlink_in_a_sticky_directory_is_never_followed(
    tmp_path: Path, options: dict[str, Any]
) -> None:
    shared = tmp_path / "tmp"  # like /tmp: root's, world-writable, sticky
    shared.mkdir()
    os.chmod(shared, 0o1777)
    target = tmp_path / "root-owned"
    target.mkdir(mode=0o755)
    link = shared / "cache"
    link.symlink_to(target, target_is_directory=True)
    os.lchown(link, OTHER, OTHER)
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **{**options, "cache_dir": link})
    with pytest.raises(lazyext.UnsafeCacheError, match="symlink") as caught:
        _import("tinyyaml")
    assert caught.value.path == str(link)
    assert "uid 4242" in str(caught.value)
    assert list(target.iterdir()) == []  # nothing created, nothing imported from there


def test_a_symlink_of_ones_own_in_a_sticky_root_directory_is_followed(
    tmp_path: Path, options: dict[str, Any]
) -> None:
    if os.stat(tmp_path.parent.parent).st_uid not in (0, os.getuid()):
        pytest.skip("the test's own temporary directory is not root's or ours")
    shared = tmp_path / "tmp"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    if os.geteuid() != 0:
        pytest.skip("a sticky directory of root's is needed")
    target = tmp_path / "mine"
    target.mkdir(mode=0o700)
    link = shared / "cache"
    link.symlink_to(target, target_is_directory=True)
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **{**options, "cache_dir": link})
    assert _import("tinyyaml").load("") == 42
    assert (target / "entries").is_dir()


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_cache_under_a_parent_writable_by_others_is_refused(
    tmp_path: Path, options: dict[str, Any], mode: int
) -> None:
    parent = tmp_path / "open"
    parent.mkdir()
    os.chmod(parent, mode)
    cache = parent / "cache"
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **{**options, "cache_dir": cache})
    with pytest.raises(lazyext.UnsafeCacheError, match="its parent") as caught:
        _import("tinyyaml")
    assert caught.value.path == str(parent)
    assert f"chmod go-w {parent}" in str(caught.value)
    assert not cache.exists()


def test_a_link_whose_target_lies_under_an_unsafe_parent_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "open"
    parent.mkdir()
    os.chmod(parent, 0o777)
    (parent / "real").mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(parent / "real", target_is_directory=True)
    with pytest.raises(lazyext.UnsafeCacheError, match="its parent") as caught:
        _trust.check_dir(str(link), what="cache directory")
    assert caught.value.path == str(parent)


@as_root
def test_a_read_only_layer_may_be_roots_and_shared_through_a_group(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    layer.mkdir(mode=0o755)
    os.chown(layer, 0, 0)
    assert _trust.check_dir(str(layer), what="cache layer", root_owned_ok=True) == str(layer)
    os.chmod(layer, 0o775)
    with pytest.raises(lazyext.UnsafeCacheError, match="writable by its group"):
        _trust.check_dir(str(layer), what="cache layer", root_owned_ok=True)
    _trust.check_dir(str(layer), what="cache layer", root_owned_ok=True, trust_group=True)
    os.chown(layer, OTHER, OTHER)
    with pytest.raises(lazyext.UnsafeCacheError, match="not by you"):
        _trust.check_dir(str(layer), what="cache layer", root_owned_ok=True)


def test_plugins_directory_under_an_unsafe_parent_is_refused(
    tmp_path: Path, cache_dir: Path
) -> None:
    parent = tmp_path / "open"
    parent.mkdir()
    os.chmod(parent, 0o777)
    with pytest.raises(lazyext.UnsafeCacheError, match=r"plugins directory.*its parent"):
        PluginManager(directory=parent / "plugins", cache_dir=cache_dir)


# -- #7: state files are private, whatever is created first --------------------------


def test_the_database_is_0600_in_a_0700_data_directory_when_plugins_come_first(
    tmp_path: Path, cache_dir: Path, umask_022: None
) -> None:
    data = tmp_path / "data"
    assert not data.exists()
    manager = PluginManager(cache_dir=cache_dir)  # default: <data dir>/plugins, made first
    manager.list()
    manager.close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "plugins").stat().st_mode) == 0o700
    for name in ("state.sqlite3", "state.sqlite3-wal", "state.sqlite3-shm"):
        path = data / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_a_database_readable_by_others_is_made_private(tmp_path: Path, umask_022: None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    sqlite3.connect(data / "state.sqlite3").close()
    os.chmod(data / "state.sqlite3", 0o644)
    TaskManager(data_dir=data).list_tasks()
    assert stat.S_IMODE((data / "state.sqlite3").stat().st_mode) == 0o600


# -- #14: length and character limits -------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "match"),
    [
        ({"a" * 1_000_000: "alpha"}, "characters long"),
        ({"alpha": "alpha>=" + "1" * 1_000_000}, "characters long"),
        ({"alpha": "alpha\x00"}, "control character"),
    ],
)
def test_huge_or_binary_names_and_requirements_are_config_errors(
    mapping: dict[str, str], match: str, options: dict[str, Any]
) -> None:
    with pytest.raises(lazyext.ConfigError, match=match):
        lazyext.activate(mapping, **options)


def test_a_nul_byte_in_cache_dir_is_a_config_error(options: dict[str, Any]) -> None:
    with pytest.raises(lazyext.ConfigError, match=r"cache-dir.*control character"):
        lazyext.activate({"alpha": "alpha"}, **{**options, "cache_dir": "/tmp/a\x00b"})
    with pytest.raises(lazyext.ConfigError, match=r"cache-dir.*characters long"):
        lazyext.activate({"alpha": "alpha"}, **{**options, "cache_dir": "/x" * 3000})


def test_an_extension_name_too_long_for_a_file_name_is_a_config_error(
    options: dict[str, Any],
) -> None:
    extension = lazyext.Extension(name="n" * 300, package="alpha", modules=("alpha",))
    with pytest.raises(lazyext.ConfigError, match=r"extension name.*at most 200"):
        lazyext.activate([extension], **options)


def test_a_cache_dir_that_is_a_dangling_link_is_a_lazyext_error(
    tmp_path: Path, options: dict[str, Any]
) -> None:
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere", target_is_directory=True)
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **{**options, "cache_dir": link})
    with pytest.raises(lazyext.UnsafeCacheError, match="does not exist"):
        _import("tinyyaml")
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize(
    ("task_id", "match"),
    [("t" * 100_000, "characters long"), ("a\x00b", "control character"), ("a\nb", "control")],
)
def test_task_ids_are_bounded_before_they_reach_sql(
    tmp_path: Path, task_id: str, match: str
) -> None:
    manager = TaskManager(data_dir=tmp_path / "data")
    try:
        with pytest.raises(lazyext.ConfigError, match=match):
            manager.add_task("os:getcwd", "interval", id=task_id, seconds=60)
        assert manager.list_tasks() == []
    finally:
        manager.shutdown(wait=False)
