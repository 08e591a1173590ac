"""A damaged cache: metadata, installed files, missing targets, read-only directories,
stale and long-held locks. In each case the damage is never used, the import works (or
fails with an error that names the problem), and nothing else is lost."""

from __future__ import annotations

import importlib
import marshal
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import lazyext
from faults.kit import CountingUv, locked_key, run, spawn, staging, unprivileged
from lazyext import _trust, cli
from lazyext._store import entries as _cache
from lazyext._store import locks as _locks

from support import Wheelhouse, entry_of, publications

CONFIG = """
find-links = ["{links}"]
no-index = true
lock-timeout = {lock_timeout}

[[extensions]]
name = "tinyyaml"
package = "TinyYaml>=6"

[[extensions]]
name = "alpha"
package = "alpha"
"""


@pytest.fixture
def config(house: Wheelhouse, tmp_path: Path) -> Path:
    """``./lazyext.toml``: found by activate() and by the CLI alike."""
    path = Path.cwd() / "lazyext.toml"
    path.write_text(CONFIG.format(links=house.path, lock_timeout=5), encoding="utf-8")
    return path


def cli_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


def import_fresh(name: str) -> Any:
    for module in [m for m in list(sys.modules) if m.split(".")[0] == name]:
        del sys.modules[module]
    return importlib.import_module(name)


def installed(config: Path, dist: str = "TinyYaml") -> Path:
    """Install tinyyaml (and its tinydep) through an import; return the generation
    directory of ``dist``'s entry."""
    lazyext.activate()
    assert import_fresh("tinyyaml").load("") == 42
    cache = Path(os.environ["LAZYEXT_CACHE_DIR"])
    assert publications(cache) == {"tinyyaml": 1, "tinydep": 1}
    lazyext.deactivate()
    return entry_of(cache, dist)


def reimport_after_damage(shim: CountingUv, damaged: Path, *, reinstalls: bool = True) -> None:
    runs = len(shim.runs())
    lazyext.activate()
    sys.modules.pop("tinydep", None)
    module = import_fresh("tinyyaml")
    assert module.load("") == 42
    assert not module.__file__.startswith(str(damaged))
    assert not sys.modules["tinydep"].__file__.startswith(str(damaged))
    assert len(shim.runs()) - runs == (1 if reinstalls else 0)


# -- metadata ----------------------------------------------------------------------


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda meta: meta.write_bytes(data)


def _truncate(meta: Path) -> None:
    meta.write_bytes(meta.read_bytes()[: len(meta.read_bytes()) // 2])


def _as_directory(meta: Path) -> None:
    meta.unlink()
    meta.mkdir()


def _schema(change: dict[str, Any]) -> Callable[[Path], None]:
    def damage(meta: Path) -> None:
        data = marshal.loads(meta.read_bytes())
        data.update(change)
        meta.write_bytes(marshal.dumps(data))

    return damage


METADATA_DAMAGE: dict[str, Callable[[Path], None]] = {
    "empty": _write(b""),
    "truncated": _truncate,
    "garbage": _write(b"\x00\xff\xfe not marshal data \x00"),
    "not a mapping": _write(marshal.dumps([1, 2, 3])),
    "keys missing": _write(marshal.dumps({"schema": 1})),
    "newer schema": _schema({"schema": 999}),
    "wrong types": _schema({"resolved": 5, "installed_at": "yesterday"}),
    "another key": _schema({"key": "0" * 32}),
    "deleted": Path.unlink,
    "a directory": _as_directory,
}


@pytest.mark.parametrize("damage", list(METADATA_DAMAGE))
def test_damaged_metadata_is_never_used(
    damage: str,
    config: Path,
    shim: CountingUv,
    capsys: pytest.CaptureFixture[str],
) -> None:
    generation = installed(config)
    METADATA_DAMAGE[damage](generation / "entry.marshal")
    assert _cache.read_entry(str(generation)) is None
    reimport_after_damage(shim, generation)
    # gc removes the damaged generation; the new one stays.
    code, _ = cli_run(capsys, "gc", "--json")
    assert code == 0
    assert not generation.exists()
    assert publications(generation.parents[3]) == {"tinyyaml": 1, "tinydep": 1}


def test_target_deleted_while_metadata_remains(config: Path, shim: CountingUv) -> None:
    generation = installed(config)
    shutil.rmtree(generation / "target")
    reimport_after_damage(shim, generation)


def test_generation_moved_from_another_key_is_not_used(config: Path, shim: CountingUv) -> None:
    generation = installed(config)
    lazyext.activate()
    import_fresh("alpha")
    alpha = entry_of(generation.parents[3], "alpha")
    lazyext.deactivate()
    # Swap alpha's generation into tinyyaml's place (a copy, keeping alpha intact).
    shutil.rmtree(generation)
    shutil.copytree(alpha, generation, symlinks=True)
    reimport_after_damage(shim, generation)


# -- installed files, checked against RECORD ---------------------------------------


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# damage -> (the distribution whose entry is damaged, the file, the harm)
FILE_DAMAGE: dict[str, tuple[str, str, Callable[[Path], None]]] = {
    "module deleted": ("TinyYaml", "tinyyaml/__init__.py", Path.unlink),
    "module truncated": (
        "TinyYaml",
        "tinyyaml/sub.py",
        lambda p: p.write_bytes(p.read_bytes()[:10]),
    ),
    "byte flipped": ("TinyYaml", "tinyyaml/sub.py", _flip_byte),
    "dependency deleted": ("tinydep", "tinydep/__init__.py", Path.unlink),
    "metadata deleted": ("TinyYaml", "TinyYaml-6.1.dist-info/METADATA", Path.unlink),
    "RECORD deleted": ("TinyYaml", "TinyYaml-6.1.dist-info/RECORD", Path.unlink),
    "file planted": ("TinyYaml", "evil.pth", lambda p: p.write_text("import os\n")),
}


@pytest.mark.parametrize("damage", list(FILE_DAMAGE))
def test_damaged_files_are_found_by_verify_and_repaired(
    damage: str,
    config: Path,
    shim: CountingUv,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dist, relative, harm = FILE_DAMAGE[damage]
    generation = installed(config, dist)
    code, out = cli_run(capsys, "verify")
    assert code == 0, out
    harm(generation / "target" / relative)

    code, out = cli_run(capsys, "verify", "tinyyaml")
    assert code == 1
    assert "damaged" in out
    assert relative.split("/")[-1] in out or "RECORD" in out
    code, out = cli_run(capsys, "verify", "--repair")
    assert code == 0  # everything damaged was repaired (issue 23)
    assert "repaired" in out
    reimport_after_damage(shim, generation)
    code, out = cli_run(capsys, "verify")
    assert code == 0, out
    code, _ = cli_run(capsys, "gc", "--grace", "0")
    assert code == 0
    assert not generation.exists()


def test_verify_passes_every_fresh_install(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lazyext.activate()
    import_fresh("tinyyaml")
    import_fresh("alpha")
    code, out = cli_run(capsys, "verify", "--json")
    assert code == 0, out
    assert '"state": "ok"' in out


# -- a read-only cache ---------------------------------------------------------------


@pytest.fixture
def read_only(cache_dir: Path) -> Iterator[Callable[[], None]]:
    def freeze() -> None:
        for base, directories, files in os.walk(cache_dir):
            for name in [*directories, *files]:
                path = os.path.join(base, name)
                if not os.path.islink(path):
                    os.chmod(path, os.lstat(path).st_mode & ~0o222)
        os.chmod(cache_dir, 0o500)

    yield freeze
    for base, directories, _files in os.walk(cache_dir):
        for name in directories:
            os.chmod(os.path.join(base, name), 0o700)
    os.chmod(cache_dir, 0o700)


def test_read_only_cache_serves_what_it_has_and_refuses_clearly(
    config: Path, read_only: Callable[[], None], house: Wheelhouse
) -> None:
    prefix = unprivileged()
    if prefix is None:
        pytest.skip("running as root without setpriv: permission bits do not apply")
    installed(config)
    read_only()
    code = """
        import lazyext
        lazyext.activate()
        import tinyyaml
        print(tinyyaml.load(""))
        try:
            import alpha
        except ImportError as error:
            print(type(error).__name__, error)
    """
    done = run(code, prefix=prefix)
    assert done.returncode == 0, done.stderr
    value, failure = done.stdout.splitlines()
    assert value == "42"
    assert failure.startswith("InstallError installing alpha failed")
    assert "not writable" in failure or "must be writable" in failure
    assert os.environ["LAZYEXT_CACHE_DIR"] in failure
    assert "Traceback" not in done.stderr


# -- locks ---------------------------------------------------------------------------


def _lock_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / "locks" / f"{key}.lock"


def _key(dist: str) -> str:
    return locked_key(lazyext.activate(), dist)


_HOLD = """
import os, signal, sys, time
from lazyext import _trust
from lazyext._store import entries as _cache
from lazyext._store import locks as _locks
root = _trust.ensure_root({root!r})
with _locks.key_lock(root, {key!r}, 5):
    print("held", flush=True)
    if {die}:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(120)
"""


def test_stale_lock_of_a_dead_process_is_not_held(
    config: Path, cache_dir: Path, shim: CountingUv, lock_backend: str
) -> None:
    key = _key("tinyyaml")
    done = run(_HOLD.format(root=str(cache_dir), key=key, die=True))
    assert done.returncode == -signal.SIGKILL
    assert done.stdout == "held\n"
    assert _lock_path(cache_dir, key).exists()  # left behind, as after any crash
    # lock-timeout is 5 s: a lock wrongly considered held fails the import.
    assert import_fresh("tinyyaml").load("") == 42
    assert len(shim.runs()) == 1


def test_lock_held_longer_than_the_timeout(
    config: Path, cache_dir: Path, house: Wheelhouse, shim: CountingUv, lock_backend: str
) -> None:
    config.write_text(CONFIG.format(links=house.path, lock_timeout=1), encoding="utf-8")
    key = _key("tinyyaml")
    holder = spawn(_HOLD.format(root=str(cache_dir), key=key, die=False))
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(lazyext.LockTimeout) as caught:
            import_fresh("tinyyaml")
        error = caught.value
        assert error.lock_file == str(_lock_path(cache_dir, key))
        assert error.lock_file in str(error)
        assert f"process {holder.pid}" in str(error)
        assert error.timeout == 1
        assert shim.runs() == []
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=30)
    # Killing the holder released the lock: the same import now works.
    assert import_fresh("tinyyaml").load("") == 42
    assert staging(cache_dir) == []


def test_lock_held_by_another_thread_longer_than_the_timeout(
    config: Path, cache_dir: Path, house: Wheelhouse, lock_backend: str
) -> None:
    config.write_text(CONFIG.format(links=house.path, lock_timeout=1), encoding="utf-8")
    key = _key("tinyyaml")
    root = _trust.ensure_root(str(cache_dir))
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with _locks.key_lock(root, key, 5):
            held.set()
            release.wait(60)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(30)
        with pytest.raises(lazyext.LockTimeout, match="another thread of this process"):
            import_fresh("tinyyaml")
    finally:
        release.set()
        thread.join(30)
    assert import_fresh("tinyyaml").load("") == 42


def test_a_deleted_package_points_at_verify_and_repair(
    config: Path, shim: CountingUv, capsys: pytest.CaptureFixture[str]
) -> None:
    generation = installed(config)
    shutil.rmtree(generation / "target" / "tinyyaml")
    lazyext.activate()
    with pytest.raises(lazyext.InstallError, match=r"lazyext verify --repair"):
        import_fresh("tinyyaml")
    lazyext.deactivate()
    code, out = cli_run(capsys, "verify", "--repair", "tinyyaml")
    assert code == 0  # repaired (issue 23)
    assert "tinyyaml/__init__.py: missing" in out
    reimport_after_damage(shim, generation)
