"""``lazyext run``: PEP 723 scripts, each import installing only the closure it needs."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import uv
from fake_uv import UvShim

from support import Wheelhouse, publications, python_env


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    house = Wheelhouse(tmp_path_factory.mktemp("run-wheels"))
    # The distribution YamlishDist provides the module `yamlish` (as PyYAML gives `yaml`).
    house.build(
        "YamlishDist",
        "1.0",
        {"yamlish/__init__.py": "import helperdep\nX = helperdep.VALUE + 1\n"},
        requires=("helperdep>=1",),
    )
    house.build("helperdep", "1.0", {"helperdep/__init__.py": "VALUE = 41\n"})
    house.build("rarepkg", "1.0", {"rare/__init__.py": "WHO = 'rare'\n"})
    return house.path


def block(*dependencies: str, wheels: Path, extra: str = "") -> str:
    listed = ", ".join(f'"{d}"' for d in dependencies)
    return (
        "# /// script\n"
        f"# dependencies = [{listed}]\n"
        "# [tool.lazyext]\n"
        f'# find-links = ["{wheels}"]\n'
        "# no-index = true\n"
        f"{extra}"
        "# ///\n"
    )


def lazyext_run(
    *args: str, cwd: Path, shim: UvShim | str | None = None
) -> subprocess.CompletedProcess[str]:
    """``lazyext run ARGS`` in a child interpreter (with uv replaced by ``shim``)."""
    patch = ""
    if shim is not None:
        patch = f"import lazyext._uv.command as c\nc.uv_binary = lambda: {str(shim)!r}\n"
    code = patch + "import sys\nfrom lazyext.cli import main\nsys.exit(main())\n"
    return subprocess.run(
        [sys.executable, "-c", code, "run", *args],
        cwd=cwd,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_an_import_name_that_differs_from_its_distribution(
    wheels: Path, tmp_path: Path, cache_dir: Path
) -> None:
    shim = UvShim(tmp_path / "shim")
    script = write(
        tmp_path / "work" / "script.py",
        block("YamlishDist", wheels=wheels)
        + "import lazyext\n"
        + "lazyext.activate()  # the script's own: the same config\n"
        + "import yamlish\n"
        + "print(yamlish.X, yamlish.__spec__.origin)\n",
    )
    first = lazyext_run(str(script), cwd=script.parent, shim=shim)
    assert first.returncode == 0, first.stderr
    value, origin = first.stdout.split()
    assert value == "42"
    assert first.stderr == ""  # the script's activate() found the script's config
    assert origin.startswith(str(cache_dir.resolve()))
    assert publications(cache_dir) == {"yamlishdist": 1, "helperdep": 1}
    resolutions, installs = len(shim.compiles()), len(shim.runs())
    again = lazyext_run(str(script), cwd=script.parent, shim=shim)
    assert again.stdout == first.stdout
    # The second run: the config made by the first, and nothing resolved or installed.
    assert (len(shim.compiles()), len(shim.runs())) == (resolutions, installs)


def test_an_import_never_reached_installs_nothing(
    wheels: Path, tmp_path: Path, cache_dir: Path
) -> None:
    script = write(
        tmp_path / "work" / "script.py",
        block("YamlishDist", "rarepkg", wheels=wheels)
        + "import sys\nimport yamlish\n"
        + "if sys.argv[1:] == ['rare']:\n    import rare\n    print(rare.WHO)\n",
    )
    done = lazyext_run(str(script), cwd=script.parent)
    assert done.returncode == 0, done.stderr
    assert "rarepkg" not in publications(cache_dir)
    done = lazyext_run(str(script), "rare", cwd=script.parent)
    assert done.stdout == "rare\n"
    assert publications(cache_dir)["rarepkg"] == 1


def test_the_script_starts_before_its_environment_is_resolved(wheels: Path, tmp_path: Path) -> None:
    # uv's resolution waits until the script has written its marker: had the script
    # waited for the resolution, the resolution would give up (exit 97) and so would it.
    marker = tmp_path / "started"
    shim = tmp_path / "uv"
    shim.write_text(
        "#!/bin/sh\n"
        'if [ "$2" = compile ]; then\n'
        f"  i=0; while [ ! -e {shlex.quote(str(marker))} ] && [ $i -lt 1200 ]; do\n"
        "    sleep 0.05; i=$((i+1)); done\n"
        f"  [ -e {shlex.quote(str(marker))} ] || exit 97\n"
        "fi\n"
        f'exec {shlex.quote(uv.find_uv_bin())} "$@"\n',
        encoding="utf-8",
    )
    shim.chmod(0o755)
    script = write(
        tmp_path / "work" / "script.py",
        block("YamlishDist", wheels=wheels)
        + f"open({str(marker)!r}, 'w').close()\n"
        + "print('started', flush=True)\n"
        + "import yamlish\nprint(yamlish.X)\n",
    )
    done = lazyext_run(str(script), cwd=script.parent, shim=str(shim))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "started\n42\n"


def test_with_adds_a_requirement_to_the_discovered_config(wheels: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    write(work / "lazyext.toml", f'find-links = ["{wheels}"]\nno-index = true\n')
    script = write(work / "plain.py", "import yamlish\nprint(yamlish.X)\n")
    without = lazyext_run(str(script), cwd=work)
    assert without.returncode == 1
    assert "ModuleNotFoundError: No module named 'yamlish'" in without.stderr
    done = lazyext_run("--with", "YamlishDist", str(script), cwd=work)
    assert (done.returncode, done.stdout) == (0, "42\n"), done.stderr


def test_a_script_without_a_block_runs_with_the_discovered_config_alone(
    wheels: Path, tmp_path: Path, cache_dir: Path
) -> None:
    work = tmp_path / "work"
    write(
        work / "lazyext.toml",
        f"""\
        find-links = ["{wheels}"]
        no-index = true

        [[extensions]]
        name = "yamlish"
        package = "YamlishDist"
        """,
    )
    script = write(work / "plain.py", "import yamlish, sys\nprint(yamlish.X, sys.argv[1:])\n")
    done = lazyext_run(str(script), "--json", "-v", cwd=work)  # the script's arguments
    assert (done.returncode, done.stdout) == (0, "42 ['--json', '-v']\n"), done.stderr
    assert not (cache_dir / "scripts").exists()  # no config of its own was made


@pytest.mark.parametrize(
    ("body", "returncode", "said"),
    [
        ("import sys\nsys.exit(3)\n", 3, ""),
        ("import sys\nsys.exit('bye')\n", 1, "bye"),
        ("def f():\n    raise ValueError('boom')\nf()\n", 1, "ValueError: boom"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n", -15, ""),
        (
            "import atexit\natexit.register(print, 'atexit ran')\nraise KeyboardInterrupt\n",
            -2,
            "KeyboardInterrupt",
        ),
    ],
)
def test_exit_codes_and_signals_pass_through(
    body: str, returncode: int, said: str, tmp_path: Path
) -> None:
    script = write(tmp_path / "work" / "script.py", body)
    done = lazyext_run(str(script), cwd=script.parent)
    assert done.returncode == returncode, done.stderr
    assert said in done.stderr
    if "Error" in said or "Interrupt" in said:
        # The script's traceback, as python prints it: no frame of lazyext's.
        assert done.stderr.startswith("Traceback (most recent call last):\n")
        assert f'File "{script}", line' in done.stderr
        assert "lazyext" not in done.stderr.replace(str(tmp_path), "")
    if "atexit" in body:
        assert done.stdout == "atexit ran\n"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('# /// script\n# dependencies = ["a",\n# ///\n', "script.py:2: the `# /// script`"),
        (
            '#!/usr/bin/env python\n# /// script\n# requires-python = ">=3.99"\n# ///\n',
            "script.py:3: requires-python = '>=3.99' excludes this interpreter",
        ),
        ('# /// script\n# dependencies = ["not a requirement!"]\n# ///\n', "script.py:2: "),
        ("# /// script\n# python = 3\n# ///\n", "script.py:2: unknown key 'python'"),
    ],
)
def test_a_bad_block_exits_2_with_the_line(text: str, said: str, tmp_path: Path) -> None:
    script = write(tmp_path / "work" / "script.py", text + "print('ran')\n")
    done = lazyext_run("script.py", cwd=script.parent)
    assert done.returncode == 2
    assert said in done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("lazyext: ")


def test_a_missing_script_exits_2(tmp_path: Path) -> None:
    done = lazyext_run("nosuch.py", cwd=tmp_path / "work")
    assert done.returncode == 2
    assert "cannot run nosuch.py: No such file or directory" in done.stderr
    assert not os.path.exists(tmp_path / "work" / "nosuch.py")
