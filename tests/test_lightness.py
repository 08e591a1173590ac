"""``import lazyext`` and the warm path stay light (checked in fresh interpreters).

Each check compares ``sys.modules`` of the scenario with a baseline ``python -c`` run
in the same environment, so site customizations do not matter: what counts is what
lazyext adds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import uv

from support import Wheelhouse, python_env, run_python

HEAVY = (
    "packaging",
    "filelock",
    "platformdirs",
    "apscheduler",
    "uv",
    "subprocess",
    "sqlite3",
    "tomllib",
    "importlib.metadata",
    "typing",
    "dataclasses",
    "logging",
    "json",
    "threading",
    "pathlib",
    "re",
    "asyncio",  # ensure_async imports it when awaited, never before
    "concurrent.futures",  # warm's pool
)

REPORT = """
import json, sys
print("MODULES=" + json.dumps(sorted(sys.modules)))
"""


def modules_after(
    code: str, *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> set[str]:
    # `json` is imported by the report itself, after the scenario ran: capture first.
    script = f"import sys as _s\n{code}\n_seen = sorted(_s.modules)\n" + REPORT.replace(
        "sorted(sys.modules)", "_seen"
    )
    result = run_python(script, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("MODULES=")]
    return set(json.loads(line.removeprefix("MODULES=")))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(
        name for name in modules if any(name == h or name.startswith(h + ".") for h in HEAVY)
    )


@pytest.fixture(scope="module")
def baseline() -> set[str]:
    return modules_after("pass")


@pytest.fixture
def warm_config(tmp_path: Path, wheelhouse: Wheelhouse) -> Path:
    """A config whose extensions (one with a .pth path line, one with an import line)
    are all installed and compiled: the second process finds everything cached."""
    work = tmp_path / "work"
    (work / "lazyext.toml").write_text(
        wheelhouse.toml()
        + '[[extensions]]\nname = "tinyyaml"\npackage = "TinyYaml>=6"\n'
        + '[[extensions]]\nname = "pthpkg"\npackage = "pthpkg"\n'
        + '[[extensions]]\nname = "pthexec"\npackage = "pthexec"\n',
        encoding="utf-8",
    )
    result = run_python(
        "import lazyext; lazyext.activate()\nimport tinyyaml, pthpkg, pthexec\n", cwd=work
    )
    assert result.returncode == 0, result.stderr
    return work / "lazyext.toml"


def test_the_baseline_is_itself_light(baseline: set[str]) -> None:
    assert heavy_in(baseline) == []


def test_import_lazyext_is_light(baseline: set[str]) -> None:
    added = modules_after("import lazyext") - baseline
    assert heavy_in(added) == []
    # Only lazyext's own warm-path modules, no install machinery.
    install = (
        "lazyext._uv.command",
        "lazyext._env.provision",
        "lazyext._store.install",
        "lazyext._store.schemes",
    )
    for name in ("lazyext._settings.parse", "lazyext._settings.keys", *install):
        assert name not in added


def test_activate_with_everything_cached_is_light(baseline: set[str], warm_config: Path) -> None:
    added = modules_after("import lazyext\nlazyext.activate()", cwd=warm_config.parent) - baseline
    assert heavy_in(added) == []
    assert "lazyext._settings.parse" not in added  # the compiled memo answered
    assert "lazyext._errors" not in added  # error classes load when an error does


def test_the_error_classes_load_on_first_use() -> None:
    code = (
        "import sys, lazyext\n"
        "assert 'lazyext._errors' not in sys.modules\n"
        "from lazyext import ConfigError, ExtensionInstallationError, InstallError\n"
        "assert ExtensionInstallationError is InstallError\n"
        "assert issubclass(ConfigError, lazyext.LazyextError)\n"
        "assert {'ConfigError', 'UnsafeCacheError'} <= set(dir(lazyext))\n"
        "try:\n"
        "    lazyext.activate({'tinyyaml': 'Not A Requirement !!'})\n"
        "except lazyext.ConfigError as error:\n"
        "    print('refused', type(error).__name__)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "refused ConfigError"


def test_activate_with_a_mapping_is_light(
    baseline: set[str], warm_config: Path, wheelhouse: Wheelhouse
) -> None:
    code = (
        "import lazyext\n"
        f"lazyext.activate({{'tinyyaml': 'TinyYaml>=6'}}, find_links=[{str(wheelhouse.path)!r}],"
        " no_index=True)"
    )
    # The first run compiles the mapping, the second finds the memo.
    modules_after(code, cwd=warm_config.parent)
    added = modules_after(code, cwd=warm_config.parent) - baseline
    assert heavy_in(added) == []


@pytest.mark.parametrize("name", ["tinyyaml", "pthpkg", "pthexec"])
def test_first_import_of_a_cached_extension_is_light(
    baseline: set[str], warm_config: Path, name: str
) -> None:
    cache = warm_config.parent.parent / "cache"
    before = sorted(p.name for p in cache.glob("entries/*/*/g*"))
    code = (
        "import lazyext\nlazyext.activate()\n"
        f"import {name}\n"
        "assert 'lazyext._env.provision' not in sys.modules\n"
        "assert 'lazyext._store.install' not in sys.modules\n"
        "assert 'lazyext._uv.command' not in sys.modules\n"
        "assert 'lazyext._log' not in sys.modules, 'logs nothing'\n"
    )
    code = "import sys\n" + code
    added = modules_after(code, cwd=warm_config.parent) - baseline
    assert name in added
    assert heavy_in(added) == []
    # Nothing was installed: no uv run, no new generation.
    assert sorted(p.name for p in cache.glob("entries/*/*/g*")) == before


def test_a_pth_import_line_ran_in_the_warm_process(warm_config: Path) -> None:
    result = run_python(
        "import lazyext\nlazyext.activate()\nimport pthexec, pthpkg\n"
        "print(pthexec.MARK, pthpkg.WHERE)\n",
        cwd=warm_config.parent,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ran", "pth"]


@pytest.mark.parametrize(("host_version", "served"), [("5.4", "6.1"), ("6.1", "6.1")])
def test_first_import_with_a_copy_in_the_host_environment_is_light(
    baseline: set[str],
    warm_config: Path,
    wheelhouse: Wheelhouse,
    tmp_path: Path,
    host_version: str,
    served: str,
) -> None:
    # The host's copy is compared with the requirement on every process's first import:
    # an older one is bypassed for the cache, a satisfying one is used. Neither decision
    # may import packaging (and with it re, typing and logging).
    host = tmp_path / "host"
    argv = [uv.find_uv_bin(), "pip", "install", "--quiet", "--no-config"]
    argv += ["--python", sys.executable, "--target", str(host), "--no-index"]
    argv += ["--find-links", str(wheelhouse.path), f"TinyYaml=={host_version}"]
    subprocess.run(argv, check=True)
    code = (
        "import lazyext\nlazyext.activate()\nimport tinyyaml\n"
        f"assert tinyyaml.__version__ == {served!r}, tinyyaml.__file__\n"
        f"assert tinyyaml.__file__.startswith({str(host)!r}) == {host_version == served}\n"
    )
    env = python_env(PYTHONPATH=str(host))
    added = modules_after(code, cwd=warm_config.parent, env=env) - baseline
    assert heavy_in(added) == []


def test_import_lazyext_loads_exactly_the_warm_paths_modules(baseline: set[str]) -> None:
    """Which of lazyext's modules ``import lazyext`` loads, by name (benchmark B1): the
    settings and the importer; the host check, the stored environment and the store
    load with the first import lazyext serves."""
    added = modules_after("import lazyext") - baseline
    assert sorted(name for name in added if name.startswith("lazyext")) == [
        "lazyext",
        "lazyext._api",
        "lazyext._columns",
        "lazyext._importer",
        "lazyext._importer.finder",
        "lazyext._importer.runtime",
        "lazyext._importer.view",
        "lazyext._record",
        "lazyext._settings",
        "lazyext._settings.config",
        "lazyext._settings.load",
        "lazyext._settings.memo",
        "lazyext._settings.names",
        "lazyext._trust",
    ]


def test_the_command_lines_parser_loads_no_verbs_work(baseline: set[str]) -> None:
    """Every verb but ``run`` builds the whole parser: the registries' work (reading
    registries and wheels, TLS) loads only for ``search``, ``add`` and ``remove``."""
    added = modules_after("from lazyext.cli import build_parser\nbuild_parser()") - baseline
    for name in (
        "lazyext.cli.registry_verbs",
        "lazyext._registry.compat",
        "lazyext._registry.source",
        "lazyext._run.names",
        "ssl",
    ):
        assert name not in added
