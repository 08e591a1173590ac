"""The ``lazyext`` command: status, warm, invalidate, gc; --json, --config, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lazyext
from fake_uv import UvShim
from lazyext import cli
from lazyext._uv import command as _installer

from support import Wheelhouse


@pytest.fixture
def config(tmp_path: Path, wheelhouse: Wheelhouse) -> Path:
    path = tmp_path / "conf" / "lazyext.toml"
    path.parent.mkdir()
    path.write_text(
        wheelhouse.toml()
        + """
[[extensions]]
name = "tinyyaml"
package = "TinyYaml>=6"

[[extensions]]
name = "alpha"
package = "alpha"

[[extensions]]
name = "winonly"
package = "alpha; sys_platform == 'nonexistent-os'"

[[extensions]]
name = "builtin_thing"
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UvShim:
    shim = UvShim(tmp_path / "shim")
    monkeypatch.setattr(_installer, "uv_binary", lambda: str(shim))
    return shim


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code, out, _err = run(capsys, *argv)
    return code, json.loads(out)


def states(capsys: pytest.CaptureFixture[str], config: Path) -> dict[str, str]:
    code, data = run_json(capsys, "--config", str(config), "status", "--json")
    assert code == 0
    return {row["name"]: row["state"] for row in data["extensions"]}


def test_status_of_a_cold_cache(
    capsys: pytest.CaptureFixture[str], config: Path, cache_dir: Path
) -> None:
    code, data = run_json(capsys, "--config", str(config), "status", "--json")
    assert code == 0
    assert data["config"] == str(config)
    assert data["command"] == "status"
    assert data["cache_dir"] == str(cache_dir.resolve())
    rows = {row["name"]: row for row in data["extensions"]}
    assert rows["tinyyaml"]["state"] == "missing"
    assert rows["tinyyaml"]["ok"] is True
    assert rows["tinyyaml"]["requirement"] == "tinyyaml>=6"
    assert rows["winonly"]["state"] == "not-applicable"
    assert rows["builtin_thing"]["state"] == "built-in"


def test_warm_then_status(capsys: pytest.CaptureFixture[str], config: Path, shim: UvShim) -> None:
    code, data = run_json(capsys, "--config", str(config), "warm", "--json")
    assert code == 0
    assert {row["name"] for row in data["extensions"]} == {"tinyyaml", "alpha"}
    assert all(row["ok"] for row in data["extensions"])
    assert data["ok"] is True
    assert len(shim.runs()) == 1  # what the two extensions miss, in one uv run
    warmed = {row["name"]: row for row in data["extensions"]}
    assert warmed["tinyyaml"]["requirement"] == "tinyyaml>=6"
    assert warmed["tinyyaml"]["version"] == "6.1"
    assert len(warmed["tinyyaml"]["key"]) == 32
    assert warmed["tinyyaml"]["modules"] == ["tinyyaml"]
    assert warmed["tinyyaml"]["size"] > 0
    assert warmed["tinyyaml"]["distributions"]
    code, data = run_json(capsys, "--config", str(config), "status", "--json")
    rows = {row["name"]: row for row in data["extensions"]}
    assert rows["tinyyaml"]["state"] == "installed"
    assert rows["tinyyaml"]["version"] == "6.1"
    assert rows["tinyyaml"]["size"] > 0
    assert Path(rows["tinyyaml"]["path"], "tinyyaml", "__init__.py").is_file()
    assert rows["alpha"]["version"] == "1.0"
    # Warm again: nothing to do.
    code, out, _ = run(capsys, "--config", str(config), "warm")
    assert code == 0
    assert "2 of 2 ready" in out
    assert len(shim.runs()) == 1


def test_status_table(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    run(capsys, "--config", str(config), "warm", "alpha")
    code, out, _ = run(capsys, "--config", str(config), "status")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"config: {config} (--config)"
    assert lines[2].startswith("environment: resolved, lock ")
    assert lines[2].endswith("pylock.toml")
    assert lines[3].split() == ["NAME", "STATE", "VERSION", "SIZE", "REQUIREMENT"]
    alpha = next(line for line in lines if line.startswith("alpha "))
    assert alpha.split()[:3] == ["alpha", "installed", "1.0"]
    assert "KiB" in alpha or " B " in alpha
    # Every locked distribution: its version, state and the extensions that need it.
    dists = lines[lines.index("") + 1 :]
    assert dists[0].split() == ["NAME", "VERSION", "STATE", "PULLED_IN_BY"]
    assert [line.split() for line in dists[1:]] == [
        ["alpha", "1.0", "installed", "alpha"],
        ["tinydep", "1.0", "missing", "tinyyaml"],
        ["tinyyaml", "6.1", "missing", "tinyyaml"],
    ]


def test_warm_named_extensions_only(
    capsys: pytest.CaptureFixture[str], config: Path, shim: UvShim
) -> None:
    code, data = run_json(capsys, "--config", str(config), "warm", "alpha", "--json")
    assert code == 0
    assert [row["name"] for row in data["extensions"]] == ["alpha"]
    assert states(capsys, config)["tinyyaml"] == "missing"


def test_warm_an_unknown_name_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], config: Path, shim: UvShim
) -> None:
    code, _out, err = run(capsys, "--config", str(config), "warm", "nope")
    assert code == 2
    assert "no configured extension named 'nope'" in err
    assert shim.runs() == []


def test_warm_failure_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        wheelhouse.toml()
        + '[[extensions]]\nname = "tinyyaml"\npackage = "TinyYaml>=99"\n'
        + '[[extensions]]\nname = "alpha"\npackage = "alpha"\n',
        encoding="utf-8",
    )
    code, data = run_json(capsys, "--config", str(path), "warm", "--json")
    assert code == 1
    rows = {row["name"]: row for row in data["extensions"]}
    assert data["ok"] is False
    assert rows["alpha"]["ok"] is True
    assert rows["tinyyaml"]["ok"] is False
    assert rows["tinyyaml"]["state"] == "failed"
    assert "No solution found" in rows["tinyyaml"]["detail"]
    code, out, _ = run(capsys, "--config", str(path), "warm")
    assert code == 1
    assert "FAILED tinyyaml" in out


def test_status_shows_expired(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    path = tmp_path / "short.toml"
    path.write_text(
        wheelhouse.toml() + 'ttl-hours = 1e-9\n[[extensions]]\nname = "alpha"\npackage = "alpha"\n',
        encoding="utf-8",
    )
    assert run(capsys, "--config", str(path), "warm")[0] == 0
    assert states(capsys, path) == {"alpha": "expired"}


def test_status_shows_host_installs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "host.toml"
    # pytest: installed wherever the tests run (the stages' extra has little else).
    path.write_text('[[extensions]]\nname = "pytest"\npackage = "pytest>=8"\n', encoding="utf-8")
    assert states(capsys, path) == {"pytest": "host"}


def test_invalidate(capsys: pytest.CaptureFixture[str], config: Path, shim: UvShim) -> None:
    run(capsys, "--config", str(config), "warm")
    code, out, _ = run(capsys, "--config", str(config), "invalidate", "alpha", "TinyYaml>=6")
    assert code == 0
    assert out.splitlines() == [
        "alpha: 1 install(s) invalidated",
        "TinyYaml>=6: 2 install(s) invalidated",  # its closure: TinyYaml and tinydep
    ]
    assert states(capsys, config)["alpha"] == "missing"
    code, _, err = run(capsys, "--config", str(config), "invalidate", "not a requirement")
    assert code == 2
    assert "not one PEP 508 requirement" in err
    code, _, _ = run(capsys, "--config", str(config), "invalidate")
    assert code == 2


def test_invalidate_a_requirement_that_ensure_installed(
    capsys: pytest.CaptureFixture[str], wheelhouse: Wheelhouse, cache_dir: Path, shim: UvShim
) -> None:
    """A requirement installed by ``ensure()`` is known to ``lazyext invalidate`` (its
    installs are per distribution), and the next ``ensure()`` installs it again."""
    first = lazyext.ensure("beta>=1", **wheelhouse.options(cache_dir))
    Path("lazyext.toml").write_text(wheelhouse.toml(), encoding="utf-8")
    code, out, err = run(capsys, "invalidate", "beta>=1")
    assert (code, err) == (0, "")
    assert out.strip() == "beta>=1: 1 install(s) invalidated"
    runs = len(shim.runs())
    lazyext.deactivate()
    again = lazyext.ensure("beta>=1", **wheelhouse.options(cache_dir))
    assert again != first
    assert (again / "beta" / "__init__.py").is_file()
    assert len(shim.runs()) == runs + 1  # reinstalled, in one uv run


def test_gc(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    run(capsys, "--config", str(config), "warm")
    run(capsys, "--config", str(config), "invalidate", "alpha")
    code, data = run_json(capsys, "--config", str(config), "gc", "--json")
    assert code == 0
    assert data["removed"] == []  # within the default grace
    code, data = run_json(capsys, "--config", str(config), "gc", "--grace", "0", "--json")
    assert code == 0
    assert len(data["removed"]) == 1
    assert data["freed_bytes"] > 0
    code, out, _ = run(capsys, "--config", str(config), "gc", "--grace", "0")
    assert code == 0
    assert out.strip() == "freed 0 B"
    assert states(capsys, config)["tinyyaml"] == "installed"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["gc", "--grace", "soon"],
        ["status", "--bogus"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "usage:" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "status" in out


def test_config_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--config", str(tmp_path / "missing.toml"), "status")
    assert code == 2
    assert "does not exist" in err
    bad = tmp_path / "bad.toml"
    bad.write_text('[[extensions]]\nname = "json"\npackage = "--evil"\n', encoding="utf-8")
    code, _, err = run(capsys, "--config", str(bad), "status", "--json")
    assert code == 2
    assert err.startswith(f"lazyext: {bad}: ")


def test_config_is_discovered_without_the_flag(
    capsys: pytest.CaptureFixture[str], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(config.parent)
    code, data = run_json(capsys, "status", "--json")
    assert code == 0
    assert data["config"] == str(config)


def test_unsafe_cache_exits_1(
    capsys: pytest.CaptureFixture[str], config: Path, cache_dir: Path
) -> None:
    cache_dir.mkdir()
    cache_dir.chmod(0o777)
    code, _, err = run(capsys, "--config", str(config), "status")
    assert code == 1
    assert "writable by group or others" in err


def test_module_entry_point(config: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lazyext", "--config", str(config), "warm", "alpha", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["extensions"][0]["ok"] is True
    usage = subprocess.run(
        [sys.executable, "-m", "lazyext"], capture_output=True, text=True, check=False
    )
    assert usage.returncode == 2


def test_warm_installs_in_parallel(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each uv run waits (up to ~3 s) until two runs have started; run one after the
    # other, the first would give up and fail. The first run, of what both extensions
    # miss together, is alone and fails so: warm falls back to one install per
    # extension, in parallel, and both succeed.
    marks = tmp_path / "marks"
    marks.mkdir()
    real = UvShim(tmp_path / "real")
    waiting = UvShim(
        tmp_path / "waiting",
        before=(
            f'touch "{marks}/started.$$"; i=0\n'
            f'while [ "$(ls "{marks}" | wc -l)" -lt 2 ]; do\n'
            '  i=$((i+1)); if [ $i -gt 60 ]; then echo "ran alone" >&2; exit 1; fi\n'
            "  sleep 0.05\n"
            "done"
        ),
        body=f'exec "{real.path}" "$@"',
    )
    monkeypatch.setattr(_installer, "uv_binary", lambda: str(waiting))
    code, data = run_json(capsys, "--config", str(config), "warm", "--json")
    assert code == 0, data
    assert len(waiting.runs()) == 3
