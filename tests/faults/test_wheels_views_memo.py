"""Issue 12 #8, #11, #12: the spawn view links only what lazyext serves, the config
memo is data to validate, and a wheel that contradicts its RECORD is never published."""

from __future__ import annotations

import importlib
import marshal
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

import lazyext
from faults.kit import CountingUv, generations, run
from lazyext._env import provision as _provision
from lazyext._importer import view as _view
from lazyext._settings import memo as _memo

from support import Wheelhouse


def _import(name: str) -> Any:
    sys.modules.pop(name, None)
    return importlib.import_module(name)


# -- #8: the spawn view ---------------------------------------------------------------


def test_the_spawn_view_never_links_stdlib_names_or_hidden_files(
    tmp_path: Path, cache_dir: Path
) -> None:
    house = Wheelhouse(tmp_path / "view-wheels")
    house.build(
        "shadowing",
        "1.0",
        {
            "shadowing/__init__.py": "NAME = 'shadowing'\n",
            "msvcrt.py": "raise SystemExit('the wheel msvcrt.py ran')\n",
            "typing.py": "raise SystemExit('the wheel typing.py ran')\n",
            ".hidden.py": "raise SystemExit('a hidden module ran')\n",
        },
    )
    lazyext.activate({"shadowing": "shadowing"}, **house.options(cache_dir))
    assert _import("shadowing").NAME == "shadowing"
    view = _view.current()
    assert view is not None
    linked = sorted(os.listdir(view))
    assert "shadowing" in linked
    assert not {"msvcrt.py", "typing.py", ".hidden.py"} & set(linked)
    # A spawn child sees the view as a plain sys.path entry: nothing of the wheel's
    # standard-library names can come from there.
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.append({view!r}); import shadowing\n"
            "try:\n    import msvcrt\nexcept ImportError:\n    print('no msvcrt')\n",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "no msvcrt"


# -- #11: the memo ------------------------------------------------------------------------


def _rewrite_memo(cache_dir: Path, change: Any, *, key: bytes | None = None) -> None:
    """Change each memo value; sealed again with ``key`` (the user's own, by default:
    the checks of the values themselves hold even against the key's holder)."""
    keyring = _memo.memo_key()
    assert keyring is not None
    own = keyring[0]
    memo_file = cache_dir / "compiled.marshal"
    memo = marshal.loads(memo_file.read_bytes())
    for fingerprint, value in memo.items():
        settings, plans, *rest = marshal.loads(_memo.unsealed(fingerprint, value, own))
        body = marshal.dumps(change(settings, plans, *rest))
        memo[fingerprint] = _memo.sealed(fingerprint, body, own if key is None else key)
    memo_file.write_bytes(marshal.dumps(memo))


def _with_plan_field(index: int, value: object) -> Any:
    def change(settings: Any, plans: Any, *rest: Any) -> Any:
        plans = tuple((*plan[:index], value, *plan[index + 1 :]) for plan in plans)
        return (settings, plans, *rest)

    return change


@pytest.mark.parametrize(
    "change",
    [
        _with_plan_field(9, "../../escaped"),  # the key names a directory
        _with_plan_field(9, 12345),  # the key of the wrong type
        _with_plan_field(2, "tinyyaml"),  # modules: a string, not a tuple
        _with_plan_field(2, ["tinyyaml"]),  # modules: a list where the memo keeps a tuple
        _with_plan_field(2, ("tiny-yaml",)),  # a module name that is no identifier
        _with_plan_field(5, ["sha256:" + "0" * 64]),  # hashes: a list, not a tuple
        _with_plan_field(9, "abc"),  # a key too short
        _with_plan_field(9, "A" * 32),  # a key not lowercase hex
        _with_plan_field(6, "x" * 5000),  # a requirement over the length limit
        _with_plan_field(6, "TinyYaml>=6\0"),  # a NUL
        _with_plan_field(0, "../name"),
        _with_plan_field(0, ".hidden"),
        lambda settings, plans, *rest: (settings, plans, "../../platform", *rest[1:]),
        lambda settings, plans, *rest: ((*settings[:1], "24", *settings[2:]), plans, *rest),
        lambda settings, plans, *rest: (("relative", *settings[1:]), plans, *rest),
        lambda settings, plans, *rest: (settings, (*plans, plans[0][:5]), *rest),  # short row
    ],
    ids=[
        "key-escapes",
        "key-type",
        "modules-type",
        "modules-list",
        "module-name",
        "hashes-list",
        "key-short",
        "key-case",
        "requirement-long",
        "requirement-nul",
        "name",
        "name-hidden",
        "platform",
        "ttl-type",
        "cache-dir",
        "plan-row",
    ],
)
def test_a_memo_with_wrong_values_is_rebuilt_never_used(
    change: Any, options: dict[str, Any], cache_dir: Path
) -> None:
    lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options)
    lazyext.deactivate()
    _rewrite_memo(cache_dir, change)
    config = lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options)
    plan = config.plan_for("tinyyaml")
    assert plan is not None
    assert len(plan.key) == 32
    assert len(config.env_key) == 32
    assert config.platform.count("/") == 0
    assert _import("tinyyaml").load("") == 42
    assert not (cache_dir.parent / "escaped").exists()
    assert not (cache_dir / "escaped").exists()
    # Published under the keys of the locked distributions of tinyyaml's closure.
    closure = _provision.environment(config).closure_of(plan.key)
    assert closure is not None
    published = sorted(g.parent.parent.name for g in generations(cache_dir))
    assert published == sorted(locked.key for locked in closure)
    assert len(published) == 2  # TinyYaml and tinydep


@pytest.mark.parametrize("key", [b"\0" * 32, b""], ids=["another-key", "digest-kept"])
def test_a_well_formed_memo_edited_without_the_key_is_rebuilt(
    key: bytes, options: dict[str, Any], cache_dir: Path, tmp_path: Path
) -> None:
    """Issue 22 #9: a memo value that passes every check of its data, but was not
    sealed with this user's key (kept in the data directory), is rebuilt from the
    config: here it would map the import name to another distribution."""
    first = lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options).plan_for("tinyyaml")
    assert first is not None
    lazyext.deactivate()
    memo_file = cache_dir / "compiled.marshal"
    (before,) = marshal.loads(memo_file.read_bytes()).values()
    swap = _with_plan_field(6, "tinydep")  # the requirement: still a valid one
    if key:
        _rewrite_memo(cache_dir, swap, key=key)
    else:  # the body changed, its digest kept
        _rewrite_memo(cache_dir, swap)
        memo = marshal.loads(memo_file.read_bytes())
        memo = {fingerprint: before[:16] + value[16:] for fingerprint, value in memo.items()}
        memo_file.write_bytes(marshal.dumps(memo))
    config = lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options)
    plan = config.plan_for("tinyyaml")
    assert plan is not None
    assert plan.requirement == first.requirement != "tinydep"
    (after,) = marshal.loads(memo_file.read_bytes()).values()
    assert after == before  # rebuilt, and sealed again
    # The key is private to the user, outside the cache.
    key_file = Path(os.environ["LAZYEXT_DATA_DIR"]) / "memo.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert not list(cache_dir.glob("*.key"))


def _probe(options: dict[str, Any], requirement: str = "TinyYaml>=6") -> list[str]:
    """In a new process: the requirement activate() obeys for tinyyaml, whether the
    digest module loaded, and whether the config was parsed."""
    safe = {key: str(value) if isinstance(value, Path) else value for key, value in options.items()}
    result = run(
        f"""
        import sys
        import lazyext
        config = lazyext.activate({{"tinyyaml": {requirement!r}}}, **{safe!r})
        print(config.plan_for("tinyyaml").requirement, "_blake2" in sys.modules,
              "lazyext._settings.parse" in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


PARSED, CHECKED, VOUCHED = (
    ["tinyyaml>=6", "True", "True"],
    ["tinyyaml>=6", "True", "False"],
    ["tinyyaml>=6", "False", "False"],
)


def test_a_memo_vouched_for_is_checked_again_once_it_is_edited(
    options: dict[str, Any], cache_dir: Path
) -> None:
    """The digests are checked once per memo file and key (``memo.seen``); the file's
    identity includes its ctime, which only root can set back: a memo edited after it
    was vouched for, its digest kept and its size, inode and mtime as they were, is
    checked again and rebuilt, never obeyed."""
    data_dir = Path(os.environ["LAZYEXT_DATA_DIR"])
    assert _probe(options) == PARSED
    assert _probe(options) == CHECKED
    # Written just now: its ctime could still stay the same through another write.
    assert _probe(options) == CHECKED
    assert not (data_dir / "memo.seen").exists()
    time.sleep(2.2)  # the memo file settles (memo._SETTLED_NS): it may be vouched for
    assert _probe(options) == CHECKED  # every value checked, the file vouched for
    assert (data_dir / "memo.seen").stat().st_mode & 0o777 == 0o600
    assert _probe(options) == VOUCHED  # no digest
    # A memo.seen that others could have written vouches for nothing.
    os.chmod(data_dir / "memo.seen", 0o666)
    assert _probe(options) == CHECKED
    os.chmod(data_dir / "memo.seen", 0o600)
    assert _probe(options) == VOUCHED
    memo_file = cache_dir / "compiled.marshal"
    before = memo_file.stat()
    (sealed,) = marshal.loads(memo_file.read_bytes()).values()
    # The same size, inode and mtime: only the ctime tells.
    _rewrite_memo(cache_dir, _with_plan_field(6, "tinydep>=01"), key=b"\0" * 32)
    memo = {fingerprint: sealed[:16] + value[16:] for fingerprint, value in _memo_values(cache_dir)}
    memo_file.write_bytes(marshal.dumps(memo))
    os.utime(memo_file, ns=(before.st_atime_ns, before.st_mtime_ns))
    edited = memo_file.stat()
    assert (edited.st_ino, edited.st_size, edited.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    assert _probe(options) == PARSED  # rebuilt


def test_a_new_key_vouches_for_nothing_the_old_one_sealed(
    options: dict[str, Any], cache_dir: Path
) -> None:
    """Replacing ``memo.key`` (a key that leaked) undoes what ``memo.seen`` vouched for
    under the old one: its values are checked against the new key, and rebuilt."""
    data_dir = Path(os.environ["LAZYEXT_DATA_DIR"])
    assert _probe(options) == PARSED
    time.sleep(2.2)
    assert _probe(options) == CHECKED
    assert _probe(options) == VOUCHED
    (data_dir / "memo.key").unlink()
    assert _probe(options) == PARSED  # the old key's value fails the new key


def test_a_sealed_value_moved_under_another_config_is_rebuilt(
    options: dict[str, Any], cache_dir: Path
) -> None:
    """Each digest seals the value with its config's fingerprint: a value sealed with
    this user's key for one config, copied under another config's fingerprint, fails."""
    assert _probe(options) == PARSED
    assert _probe(options, "tinydep>=1") == ["tinydep>=1", "True", "True"]
    memo_file = cache_dir / "compiled.marshal"
    memo = dict(_memo_values(cache_dir))
    ours, other = (next(f for f in memo if needle in f) for needle in ("TinyYaml", "tinydep"))
    memo[ours] = memo[other]  # tinyyaml's config would now install tinydep
    memo_file.write_bytes(marshal.dumps(memo))
    assert _probe(options) == PARSED


def test_a_value_of_another_key_in_the_file_leaves_the_others_vouched_for(
    options: dict[str, Any], cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two data directories (two keys) sharing a cache keep their own values in one
    memo file: a value that fails this key (the other's) does not stop this key from
    vouching for the values that pass it."""
    assert _probe(options, "tinydep>=1") == ["tinydep>=1", "True", "True"]
    monkeypatch.setenv("LAZYEXT_DATA_DIR", str(tmp_path / "other-data"))
    assert _probe(options) == PARSED  # the other key's value, in the same file
    monkeypatch.setenv("LAZYEXT_DATA_DIR", str(tmp_path / "data"))
    assert len(_memo_values(cache_dir)) == 2
    time.sleep(2.2)
    assert _probe(options, "tinydep>=1") == ["tinydep>=1", "True", "False"]  # vouched
    assert _probe(options, "tinydep>=1") == ["tinydep>=1", "False", "False"]


def _memo_values(cache_dir: Path) -> list[tuple[str, bytes]]:
    return list(marshal.loads((cache_dir / "compiled.marshal").read_bytes()).items())


def test_without_a_usable_data_directory_no_memo_is_used(
    options: dict[str, Any], cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("LAZYEXT_DATA_DIR", str(blocker / "data"))
    config = lazyext.activate({"tinyyaml": "TinyYaml>=6"}, **options)
    assert config.plan_for("tinyyaml") is not None
    assert not (cache_dir / "compiled.marshal").exists()
    assert _import("tinyyaml").load("") == 42


def test_a_fifo_at_the_memo_is_refused_not_waited_for(
    options: dict[str, Any], cache_dir: Path
) -> None:
    cache_dir.mkdir(mode=0o700)
    os.mkfifo(cache_dir / "compiled.marshal", 0o600)
    safe = {key: str(value) if isinstance(value, Path) else value for key, value in options.items()}
    result = run(
        f"""
        import lazyext
        config = lazyext.activate({{"tinyyaml": "TinyYaml>=6"}}, **{safe!r})
        import tinyyaml
        print(tinyyaml.load(""))
        """,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


# -- #12: wheels that contradict their RECORD ------------------------------------------


def _tamper(wheel: Path, member: str, data: bytes) -> None:
    """Change one file of ``wheel`` and keep its RECORD as it was."""
    with zipfile.ZipFile(wheel) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    contents[member] = data
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, content in contents.items():
            archive.writestr(name, content)


def test_a_wheel_whose_files_contradict_its_record_is_never_published(
    tmp_path: Path, cache_dir: Path, shim: CountingUv
) -> None:
    house = Wheelhouse(tmp_path / "record-wheels")
    wheel = house.build("tampered", "1.0", {"tampered/__init__.py": "NAME = 'honest'\n"})
    _tamper(wheel, "tampered/__init__.py", b"NAME = 'changed after signing'\n")
    options = house.options(cache_dir)
    # Configured: its environment (which locks the wheel refused below) is the config's.
    Path("lazyext.toml").write_text(
        house.toml() + '[[extensions]]\nname = "tampered"\npackage = "tampered"\n',
        encoding="utf-8",
    )
    with pytest.raises(lazyext.InstallError, match="do not match the RECORD") as caught:
        lazyext.ensure("tampered", **options)
    assert caught.value.security is True
    assert "tampered/__init__.py" in str(caught.value)
    assert generations(cache_dir) == []
    # Remembered: the next attempts (an import, verify --repair's reinstall) do not
    # install the same wheel again, even after the in-process failure memory is gone.
    importlib.invalidate_caches()
    with pytest.raises(lazyext.InstallError, match=r"not installing tampered==1\.0 again") as again:
        lazyext.ensure("tampered", **options)
    assert again.value.security is True
    assert len(shim.runs()) == 1
    shown = subprocess.run(
        [sys.executable, "-m", "lazyext", "verify", "--repair"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode != 0
    assert "refused" in shown.stdout
    assert "tampered/__init__.py" in shown.stdout
    assert len(shim.runs()) == 1
    # `lazyext invalidate` lets uv try again (a fixed wheel may have been published).
    lazyext.invalidate("tampered", **options)
    importlib.invalidate_caches()
    with pytest.raises(lazyext.InstallError, match="do not match the RECORD"):
        lazyext.ensure("tampered", **options)
    assert len(shim.runs()) == 2


# -- issue 22 #7: a file the wheel's own RECORD leaves out -------------------------------


def _leave_out_of_record(wheel: Path, member: str) -> None:
    """Drop ``member``'s line from ``wheel``'s RECORD (the file stays in the wheel)."""
    with zipfile.ZipFile(wheel) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    (record,) = [name for name in contents if name.endswith(".dist-info/RECORD")]
    lines = contents[record].decode().splitlines()
    contents[record] = "".join(f"{line}\n" for line in lines if not line.startswith(f"{member},"))
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, content in contents.items():
            archive.writestr(name, content)


@pytest.mark.parametrize("member", ["sneaky_hook.pth", "sneaky/extra.py"])
def test_a_file_the_wheels_record_leaves_out_is_refused_like_any_file_outside_record(
    tmp_path: Path, cache_dir: Path, shim: CountingUv, member: str
) -> None:
    # uv installs such a file and lists it in the installed RECORD without a hash; a
    # .pth file among them would run at every start of every process that uses it.
    mark = tmp_path / "pth-ran"
    house = Wheelhouse(tmp_path / "record-wheels")
    wheel = house.build(
        "sneaky",
        "1.0",
        {
            "sneaky/__init__.py": "NAME = 'sneaky'\n",
            "sneaky/extra.py": "EXTRA = True\n",
            "sneaky_hook.pth": f"import os; open({str(mark)!r}, 'w').close()\n",
        },
    )
    _leave_out_of_record(wheel, member)
    Path("lazyext.toml").write_text(
        house.toml() + '[[extensions]]\nname = "sneaky"\npackage = "sneaky"\n', encoding="utf-8"
    )
    lazyext.activate()
    with pytest.raises(lazyext.InstallError) as caught:
        _import("sneaky")
    print(caught.value)
    assert caught.value.security is True
    assert f"{member}: not in its wheel's RECORD (listed with no hash)" in str(caught.value)
    assert str(caught.value).startswith("refusing to publish sneaky==1.0: its files do not match")
    assert generations(cache_dir) == []
    assert not mark.exists()
    assert "sneaky" not in sys.modules
