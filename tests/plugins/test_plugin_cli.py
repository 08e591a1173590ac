"""``lazyext plugins ...``: every verb, its output, and its exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from plugkit import events, plugin_files, write_folder, write_zip

from lazyext.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["plugins", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_verb(
    capsys: pytest.CaptureFixture[str], sources: Path, log: Path, tmp_path: Path
) -> None:
    assert run(capsys, "list") == (0, "(none)\n", "")
    folder = write_folder(sources, "clip", version="1.0", info={"description": "a CLI plugin"})

    code, out, _ = run(capsys, "install", str(folder), "--enable")
    assert code == 0
    assert out.startswith("installed clip 1.0 (enabled) in ")
    assert events(log) == ["enable 1.0", "disable 1.0"]  # proven here, then shut down

    code, out, _ = run(capsys, "list")
    assert code == 0
    assert out.splitlines()[0].split() == [
        "ID",
        "VERSION",
        "STATUS",
        "NAME",
        "INSTALLED",
        "LAST_ERROR",
    ]
    assert out.splitlines()[1].split()[:3] == ["clip", "1.0", "enabled"]
    code, out, _ = run(capsys, "list", "--json")
    assert [item["id"] for item in json.loads(out)["plugins"]] == ["clip"]

    code, out, _ = run(capsys, "info", "clip")
    assert "description:  a CLI plugin" in out
    assert "entry:        clip.run:Plugin" in out
    info = json.loads(run(capsys, "info", "clip", "--json")[1])["plugin"]
    assert (info["status"], info["snapshots"]) == ("enabled", [])

    assert run(capsys, "disable", "clip")[:2] == (0, "disabled clip 1.0\n")
    assert run(capsys, "enable", "clip")[:2] == (0, "enabled clip 1.0\n")
    assert run(capsys, "reload", "clip")[:2] == (0, "reloaded clip 1.0\n")

    assert run(capsys, "snapshot", "clip", "--note", "before")[:2] == (
        0,
        "snapshot 1 of clip 1.0\n",
    )
    code, out, _ = run(capsys, "snapshots", "clip")
    assert out.splitlines()[1].split()[0] == "1"
    assert "before" in out
    snapshots = json.loads(run(capsys, "snapshots", "clip", "--json")[1])["snapshots"]
    assert [(s["id"], s["note"]) for s in snapshots] == [(1, "before")]

    upgrade = write_folder(sources / "next", "clip", version="2.0")
    assert run(capsys, "install", str(upgrade))[0] == 0
    code, out, _ = run(capsys, "restore", "clip", "1")
    assert (code, out) == (0, "restored clip 1.0 (enabled) from snapshot 1\n")

    assert run(capsys, "uninstall", "clip")[:2] == (0, "uninstalled clip 1.0\n")
    assert run(capsys, "list")[1] == "(none)\n"


def test_exit_codes_of_failures(
    capsys: pytest.CaptureFixture[str], sources: Path, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "enable", "ghost")
    assert code == 2
    assert "no plugin 'ghost' is installed" in err
    assert run(capsys, "info", "ghost")[0] == 2
    assert run(capsys, "install", str(tmp_path / "missing"))[0] == 2

    bad_manifest = sources / "badman"
    bad_manifest.mkdir()
    (bad_manifest / "__init__.py").write_text("PLUGIN_INFO = {'id': 'badman', 'version': 'one'}\n")
    code, _, err = run(capsys, "install", str(bad_manifest))
    assert code == 2
    assert "is not a PEP 440 version" in err

    evil = write_zip(tmp_path / "evil.zip", {**plugin_files("evil"), "../../x.py": "x"})
    code, _, err = run(capsys, "install", str(evil))
    assert code == 2
    assert "'..' path component" in err

    raising = write_folder(sources, "raiser", on_enable="raise RuntimeError('nope')")
    code, _, err = run(capsys, "install", str(raising), "--enable")
    assert code == 1
    assert "RuntimeError: nope" in err
    assert "failed" in run(capsys, "list")[1]

    write_folder(sources, "fine")
    assert run(capsys, "install", str(sources / "fine"))[0] == 0
    code, out, err = run(capsys, "enable", "fine", "ghost", "raiser")
    assert code == 2  # an unknown id: refused before anything is done
    assert out == ""
    assert "no plugin 'ghost' is installed" in err
    code, out, err = run(capsys, "enable", "fine", "raiser")
    assert code == 1  # go on after a failure, exit with the worst status
    assert out == "enabled fine 1.0\n"
    assert "nope" in err
    assert run(capsys, "reload", "raiser")[0] == 1  # disabled: nothing to reload
    assert run(capsys, "restore", "fine", "7")[0] == 2


def test_directory_option_and_the_real_entry_point(
    capsys: pytest.CaptureFixture[str], sources: Path, tmp_path: Path
) -> None:
    folder = write_folder(sources, "elsewhere")
    other = tmp_path / "other-plugins"
    assert run(capsys, "install", str(folder), "--directory", str(other))[0] == 0
    info = json.loads(run(capsys, "info", "elsewhere", "--json")[1])["plugin"]
    assert info["path"].startswith(str(other))
    result = subprocess.run(
        [sys.executable, "-m", "lazyext", "plugins", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "elsewhere" in result.stdout
    assert sys.modules.get("elsewhere") is None


def test_output_into_a_closed_pipe_is_not_a_traceback(sources: Path) -> None:
    from lazyext.plugins import PluginManager

    with PluginManager() as manager:
        for index in range(30):
            manager.install(write_folder(sources / str(index), f"piped{index}"))
    child = subprocess.Popen(
        [sys.executable, "-m", "lazyext", "plugins", "list", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None
    child.stdout.close()  # like `| head` that has already exited
    _, err = child.communicate(timeout=120)
    assert child.returncode == 1
    assert b"Traceback" not in err
    assert b"BrokenPipeError" not in err
