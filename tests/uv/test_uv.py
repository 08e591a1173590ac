"""Running uv: argv, environment, failures, retries and the wall-clock limit (lazyext._uv)."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import pytest

import lazyext
from fake_uv import UvShim
from lazyext._record import replace
from lazyext._settings.config import Settings
from lazyext._uv import command
from lazyext._uv import install as uv_install

from support import Wheelhouse

# The uv binary is looked up through this module attribute (patched below).
_installer = command


def pin(wheelhouse: Wheelhouse, name: str, version: str) -> tuple[str, tuple[str, ...]]:
    """``(name==version, (its wheel's sha256,))`` for a wheel of the wheelhouse."""
    (wheel,) = [
        path
        for path in wheelhouse.path.glob("*.whl")
        if path.name.lower().startswith(f"{name}-{version}-".lower())
    ]
    return f"{name}=={version}", ("sha256:" + hashlib.sha256(wheel.read_bytes()).hexdigest(),)


def install(
    pins: list[tuple[str, tuple[str, ...]]], prefix: Path, settings: Settings, **options: str
) -> None:
    prefix.parent.mkdir(parents=True, exist_ok=True)
    uv_install.install(
        pins,
        str(prefix),
        settings,
        requirements=str(prefix.parent / "requirements.txt"),
        label=options.pop("label", pins[0][0]),
        **options,
    )


def site_files(prefix: Path) -> set[str]:
    return {
        path.relative_to(prefix).as_posix().split("site-packages/")[-1]
        for path in prefix.rglob("*")
    }


def settings_for(wheelhouse: Wheelhouse, cache_dir: Path, **changes: object) -> Settings:
    settings = Settings(
        cache_dir=str(cache_dir), find_links=(str(wheelhouse.path),), no_index=True, retries=2
    )
    return replace(settings, **changes)


def use(monkeypatch: pytest.MonkeyPatch, shim: UvShim) -> UvShim:
    monkeypatch.setattr(_installer, "uv_binary", lambda: str(shim))
    return shim


def process_gone(pid: int) -> bool:
    """Dead, or a zombie nobody reaped yet (PID 1 in a container may not reap)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return state in {"Z", "X"}


# -- argv --------------------------------------------------------------------------------


def test_argv_shape(tmp_path: Path) -> None:
    settings = Settings(cache_dir="/c")
    argv = command.install_argv("rel/prefix", "req.txt", settings, offline=False)
    assert argv[:4] == [command.uv_binary(), "pip", "install", "--no-config"]
    assert argv[argv.index("--python") + 1] == sys.executable
    # A prefix, never --target: the wheels' data schemes stay apart from their modules
    # (lazyext._store.schemes splits the prefix into target/ and data/).
    assert "--target" not in argv
    prefix = argv[argv.index("--prefix") + 1]
    assert prefix == os.path.abspath("rel/prefix")
    # Bytecode is the interpreter's business on import, and uv's default link mode
    # applies unless link-mode is set.
    assert "--compile-bytecode" not in argv
    assert not any(arg.startswith("--link-mode") for arg in argv)
    assert "--no-build" in argv
    # Exactly the locked pins, with their hashes, from a file only lazyext writes.
    assert argv[-4:] == ["--no-deps", "--require-hashes", "-r", os.path.abspath("req.txt")]
    assert "--offline" not in argv
    assert "--index-url" not in argv
    assert "--offline" in command.install_argv("p", "r", settings, offline=True)


def test_argv_passes_index_settings_through() -> None:
    settings = Settings(
        cache_dir="/c",
        offline=True,
        index_url="https://mirror.example/simple",
        extra_index_urls=("https://extra.example/simple",),
        find_links=("/srv/wheels",),
        no_index=True,
        allow_sdist=True,
    )
    argv = command.install_argv("/p", "/r", settings, offline=False)
    assert "--offline" in argv
    assert argv[argv.index("--index-url") + 1] == "https://mirror.example/simple"
    assert argv[argv.index("--extra-index-url") + 1] == "https://extra.example/simple"
    assert argv[argv.index("--find-links") + 1] == "/srv/wheels"
    assert "--no-index" in argv
    assert "--no-build" not in argv  # allow-sdist


@pytest.mark.parametrize(
    "value",
    ["a==1\r-r /etc/passwd", "a==1\n--index-url=http://evil", "-r", "a==1 \\", ""],
)
def test_a_pin_that_could_split_or_be_an_option_never_reaches_uv(
    value: str, tmp_path: Path
) -> None:
    with pytest.raises(lazyext.LockFileError):
        uv_install.write_requirements(str(tmp_path / "r.txt"), [(value, ())])
    with pytest.raises(lazyext.LockFileError):
        uv_install.write_requirements(str(tmp_path / "r.txt"), [("a==1", (value or "-",))])
    assert not (tmp_path / "r.txt").exists()


def test_real_invocation_argv_and_environment(
    wheelhouse: Wheelhouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = use(monkeypatch, UvShim(tmp_path / "shim"))
    hostile = {
        "UV_INDEX_URL": "http://127.0.0.1:9/simple",
        "UV_EXTRA_INDEX_URL": "http://127.0.0.1:9/extra",
        "UV_CONSTRAINT": str(tmp_path / "constraints.txt"),
        "UV_OVERRIDE": str(tmp_path / "overrides.txt"),
        "UV_INDEX_STRATEGY": "unsafe-best-match",
        "UV_INSECURE_NO_ZIP_VALIDATION": "1",
        "UV_PYTHON": "/usr/bin/python2",
        "UV_NO_BUILD_ISOLATION": "1",
        "VIRTUAL_ENV": str(tmp_path / "venv"),
        "UV_HTTP_TIMEOUT": "7",
    }
    (tmp_path / "constraints.txt").write_text("tinydep<1\n", encoding="utf-8")
    (tmp_path / "overrides.txt").write_text("tinydep==0.1\n", encoding="utf-8")
    for name, value in hostile.items():
        monkeypatch.setenv(name, value)
    # A hostile uv.toml in the working directory is ignored too (--no-config).
    Path("uv.toml").write_text('index-url = "http://127.0.0.1:9/simple"\n', encoding="utf-8")
    prefix = tmp_path / "staging" / "prefix"
    settings = settings_for(wheelhouse, tmp_path / "cache")
    install(
        [pin(wheelhouse, "TinyYaml", "6.1"), pin(wheelhouse, "tinydep", "1.0")],
        prefix,
        settings,
    )
    files = site_files(prefix)
    assert "tinyyaml/__init__.py" in files
    assert "tinydep/__init__.py" in files  # the constraint (tinydep<1) did not apply
    (run,) = shim.runs()
    assert run.startswith("pip install --no-config --python " + sys.executable)
    assert f"--prefix {prefix}" in run
    assert run.endswith(f"--no-deps --require-hashes -r {prefix.parent / 'requirements.txt'}")
    (env,) = shim.environments()
    for name in hostile:
        if name != "UV_HTTP_TIMEOUT":
            assert name not in env, name
    assert env["UV_HTTP_TIMEOUT"] == "7"  # networking knobs pass through
    assert env["UV_CACHE_DIR"] == os.environ["UV_CACHE_DIR"]
    assert env["UV_NO_PROGRESS"] == "1"
    assert env["PATH"] == os.environ["PATH"]


def test_uv_environment_is_built_on_purpose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_INDEX_URL", "http://evil/simple")
    monkeypatch.setenv("UV_DEFAULT_INDEX", "http://evil/simple")
    monkeypatch.setenv("UV_CONSTRAINT", "/tmp/c.txt")
    monkeypatch.setenv("UV_CACHE_DIR", "/tmp/uv-cache")
    monkeypatch.setenv("UV_NATIVE_TLS", "1")
    monkeypatch.setenv("CONDA_PREFIX", "/opt/conda")
    monkeypatch.setenv("HOME", "/home/someone")
    monkeypatch.setenv("UV_KEYRING_PROVIDER", "subprocess")
    env = command.environment(Settings(cache_dir="/c"))
    assert "UV_INDEX_URL" not in env
    assert "UV_DEFAULT_INDEX" not in env
    assert "UV_CONSTRAINT" not in env
    assert "CONDA_PREFIX" not in env
    assert env["UV_CACHE_DIR"] == "/tmp/uv-cache"
    assert env["UV_NATIVE_TLS"] == "1"
    assert env["HOME"] == "/home/someone"
    assert env["UV_KEYRING_PROVIDER"] == "subprocess"  # private-index credentials


# -- failures ---------------------------------------------------------------------------------


def test_unsatisfiable_requirement_fails_at_once_with_the_tail(
    wheelhouse: Wheelhouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = use(monkeypatch, UvShim(tmp_path / "shim"))
    with pytest.raises(lazyext.InstallError) as caught:
        install(
            [("tinyyaml==99", ("sha256:" + "0" * 64,))],
            tmp_path / "staging" / "prefix",
            settings_for(wheelhouse, tmp_path / "cache", retries=3),
            name="tinyyaml",
            key="k" * 32,
        )
    error = caught.value
    assert isinstance(error, ImportError)
    assert error.returncode == 1
    assert "No solution found" in error.stderr_tail
    assert "there is no version of tinyyaml==99" in str(error)
    assert error.name == "tinyyaml"
    assert error.spec == "tinyyaml==99"
    assert error.cache_key == "k" * 32
    assert not error.transient
    assert not error.security
    assert len(shim.runs()) == 1  # no retry


def test_unknown_package_fails_like_an_unsatisfiable_one(
    wheelhouse: Wheelhouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = use(monkeypatch, UvShim(tmp_path / "shim"))
    with pytest.raises(lazyext.InstallError) as caught:
        install(
            [("no-such-package==1", ("sha256:" + "0" * 64,))],
            tmp_path / "p",
            settings_for(wheelhouse, tmp_path),
        )
    assert caught.value.returncode == 1
    assert len(shim.runs()) == 1


def test_the_staging_directory_of_a_failed_install_is_removed(
    wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, UvShim(tmp_path / "shim"))
    with pytest.raises(lazyext.InstallError):
        lazyext.ensure("TinyYaml>=99", **wheelhouse.options(cache_dir))
    assert list((cache_dir / "staging").iterdir()) == []
    assert not (cache_dir / "entries").exists()


def test_transient_failures_are_retried(
    wheelhouse: Wheelhouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flaky = use(
        monkeypatch,
        UvShim(
            tmp_path / "flaky",
            body="echo 'error: Request failed after 3 retries' >&2; exit 2",
        ),
    )
    with pytest.raises(lazyext.InstallError) as caught:
        install(
            [pin(wheelhouse, "alpha", "1.0")],
            tmp_path / "p",
            settings_for(wheelhouse, tmp_path, retries=1),
        )
    assert caught.value.transient
    assert caught.value.returncode == 2
    assert "could not reach the package index" in str(caught.value)
    assert len(flaky.runs()) == 2


def test_a_transient_failure_then_success(
    wheelhouse: Wheelhouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "failed-once"
    real = UvShim(tmp_path / "real")
    shim = use(
        monkeypatch,
        UvShim(
            tmp_path / "once",
            body=(
                f'if [ ! -e "{marker}" ]; then touch "{marker}"; '
                "echo 'error: connection reset by peer' >&2; exit 2; fi\n"
                f'exec "{real.path}" "$@"'
            ),
        ),
    )
    prefix = tmp_path / "p"
    install(
        [pin(wheelhouse, "alpha", "1.0")], prefix, settings_for(wheelhouse, tmp_path, retries=1)
    )
    assert "alpha/__init__.py" in site_files(prefix)
    assert len(shim.runs()) == 2


def test_hash_mismatch_is_a_security_error_never_retried(
    wheelhouse: Wheelhouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = use(monkeypatch, UvShim(tmp_path / "shim"))
    with pytest.raises(lazyext.InstallError) as caught:
        install(
            [("alpha==1.0", ("sha256:" + "0" * 64,))],
            tmp_path / "staging" / "prefix",
            settings_for(wheelhouse, tmp_path, retries=3),
        )
    assert caught.value.security
    assert not caught.value.transient
    assert len(shim.runs()) == 1


def test_a_matching_hash_installs(
    wheelhouse: Wheelhouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = tmp_path / "staging" / "prefix"
    install([pin(wheelhouse, "alpha", "1.0")], prefix, settings_for(wheelhouse, tmp_path))
    assert "alpha/__init__.py" in site_files(prefix)


def test_a_missing_uv_binary(
    wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lazyext.ensure("alpha", **wheelhouse.options(cache_dir))  # installed before uv vanished
    monkeypatch.setattr(_installer, "uv_binary", lambda: str(tmp_path / "no-uv-here"))
    with pytest.raises(lazyext.InstallError, match="cannot run uv") as caught:
        lazyext.ensure("beta", **wheelhouse.options(cache_dir))
    assert caught.value.returncode is None
    # What is cached keeps working.
    assert lazyext.ensure("alpha", **wheelhouse.options(cache_dir)).is_dir()


def test_uv_binary_comes_from_the_uv_package() -> None:
    import uv

    assert _installer.uv_binary() == uv.find_uv_bin()


# -- the wall-clock limit -----------------------------------------------------------------------


def test_timeout_kills_the_whole_process_group(
    wheelhouse: Wheelhouse, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = tmp_path / "pids"
    hanging = use(
        monkeypatch,
        UvShim(
            tmp_path / "hang",
            # uv and a child of its own (a build, say) that both hang.
            body=f'sleep 300 & echo "$$ $!" > "{pids}"; wait',
        ),
    )
    config = tmp_path / "lazyext.toml"
    config.write_text(
        f'install-timeout = 1\nretries = 0\nfind-links = ["{wheelhouse.path}"]\nno-index = true\n',
        encoding="utf-8",
    )
    lazyext.activate(config)
    with pytest.raises(lazyext.InstallError, match=r"timed out after 1 s") as caught:
        lazyext.ensure("alpha")
    assert caught.value.returncode is None
    assert caught.value.transient
    assert len(hanging.runs()) == 1
    shell, child = (int(pid) for pid in pids.read_text(encoding="ascii").split())
    for pid in (shell, child):
        for _ in range(200):
            if process_gone(pid):
                break
            time.sleep(0.05)
        assert process_gone(pid), f"pid {pid} outlived the install"
    assert list((cache_dir / "staging").iterdir()) == []
    assert not (cache_dir / "entries").exists()


def test_a_chatty_uv_does_not_deadlock_and_keeps_only_the_tail(
    wheelhouse: Wheelhouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(
        monkeypatch,
        UvShim(
            tmp_path / "chatty",
            body=(
                'i=0; while [ $i -lt 20000 ]; do echo "line $i of noise noise noise" >&2; '
                "i=$((i+1)); done; exit 1"
            ),
        ),
    )
    with pytest.raises(lazyext.InstallError) as caught:
        install(
            [pin(wheelhouse, "alpha", "1.0")], tmp_path / "p", settings_for(wheelhouse, tmp_path)
        )
    lines = caught.value.stderr_tail.splitlines()
    assert len(lines) == 40
    assert lines[-1] == "line 19999 of noise noise noise"


@pytest.mark.parametrize("mode", ["copy", "hardlink", "clone"])
def test_argv_link_mode_setting(mode: str) -> None:
    argv = command.install_argv("/p", "/r", Settings(cache_dir="/c", link_mode=mode), offline=False)
    assert f"--link-mode={mode}" in argv
