"""The command line's one contract, over every verb (README: The command line).

* exit codes: 0 success, 1 the operation failed, 2 usage error or unknown name;
* global options (--config, --json, --python, -v) before or after the verb; --version;
* --json: one report shape for per-extension results, one error shape.

A verb added without a row in CASES fails test_every_verb_is_covered.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from lazyext import __version__, cli
from lazyext._report import shapes as _shapes
from lazyext.cli import options as _cli_options

from support import Wheelhouse

#: verb -> the arguments that name something unknown (exit 2), or None (names nothing).
CASES: dict[tuple[str, ...], list[str] | None] = {
    ("status",): None,
    ("warm",): ["nosuch"],
    ("invalidate",): ["nosuch"],
    ("gc",): None,
    ("doctor",): ["nosuch"],
    ("verify",): ["nosuch"],
    ("refresh",): ["nosuch"],
    ("health",): ["nosuch"],
    ("lock",): None,
    ("pack",): None,
    ("unpack",): ["nosuch.tar.gz"],
    ("serve",): None,
    ("scheduler",): None,
    ("plugins", "list"): None,
    ("plugins", "info"): ["nosuch"],
    ("plugins", "install"): ["./nosuch-folder"],
    ("plugins", "validate"): ["./nosuch-folder"],
    ("plugins", "enable"): ["nosuch"],
    ("plugins", "disable"): ["nosuch"],
    ("plugins", "uninstall"): ["nosuch"],
    ("plugins", "reload"): ["nosuch"],
    ("plugins", "snapshot"): ["nosuch"],
    ("plugins", "snapshots"): ["nosuch"],
    ("plugins", "restore"): ["nosuch", "1"],
    ("tasks", "list"): None,
    ("tasks", "add"): ["nosuchmodule:f", "--every", "1m"],
    ("tasks", "pause"): ["nosuch"],
    ("tasks", "resume"): ["nosuch"],
    ("tasks", "run"): ["nosuch"],
    ("tasks", "remove"): ["nosuch"],
    ("tasks", "show"): ["nosuch"],
    ("completion",): None,
    ("schema",): None,
    ("search",): ["nosuchword"],  # no registry in the config: a usage error
    ("add",): ["not a requirement!"],
    ("remove",): ["nosuch"],
    ("run",): ["nosuch.py"],
}
# What the error of a case names, where it is not the unknown name "nosuch".
SAYS: dict[tuple[str, ...], str] = {
    ("search",): "no registry",
    ("add",): "not a requirement!",
}
#: What a verb needs to parse, when it names nothing.
REQUIRED: dict[tuple[str, ...], list[str]] = {("completion",): ["bash"]}
#: Verbs whose arguments after a name are not lazyext's (``run SCRIPT ARGS...``): their
#: global options come before that name.
TAKES_THE_REST = {("run",)}


def with_options(verb: tuple[str, ...], names: list[str], *options: str) -> list[str]:
    """``verb names options``; for ``run``, ``verb options names``."""
    if verb in TAKES_THE_REST:
        return [*verb, *options, *names]
    return [*verb, *names, *options]


def _verbs(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: list[tuple[str, ...]] = []
            for name, sub in action.choices.items():
                found += _verbs(sub, (*prefix, name))
            return found
    return [prefix]


VERBS = _verbs(cli.build_parser())


@pytest.fixture
def config(tmp_path: Path, wheelhouse: Wheelhouse) -> Path:
    path = tmp_path / "conf" / "lazyext.toml"
    path.parent.mkdir()
    path.write_text(
        wheelhouse.toml()
        + '[[extensions]]\nname = "alpha"\npackage = "alpha"\n'
        + '[[extensions]]\nname = "missing"\npackage = "nosuchdist"\n',
        encoding="utf-8",
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_verb_is_covered() -> None:
    missing = [verb for verb in VERBS if verb not in CASES]
    assert missing == [], f"add these verbs to the contract's CASES: {missing}"


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_help_exits_0_and_a_bad_option_exits_2(
    verb: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, *verb, "--help")[0] == 0
    assert run(capsys, *verb, "--no-such-option")[0] == 2


@pytest.mark.parametrize("verb", [v for v in VERBS if CASES.get(v)], ids=" ".join)
def test_an_unknown_name_exits_2(
    verb: tuple[str, ...], capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    code, out, err = run(capsys, *with_options(verb, CASES[verb] or [], "--config", str(config)))
    assert code == 2, out + err
    assert err.strip()  # what was wrong, on stderr


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_global_options_before_or_after_the_verb(verb: tuple[str, ...], tmp_path: Path) -> None:
    parser = cli.build_parser()
    names = CASES.get(verb) or REQUIRED.get(verb, [])
    for argv in (
        ["--config", "c.toml", "--json", "-v", *verb, *names],
        with_options(verb, names, "--config", "c.toml", "--json", "-v"),
        ["--config=c.toml", *with_options(verb, names, "-v", "--json")],
    ):
        args = parser.parse_args(cli.options.hoist(argv))
        assert args.config == "c.toml"
        assert args.global_json is True
        assert args.verbose == 1


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_python_is_refused_where_it_does_not_apply(
    verb: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    if verb[0] in _cli_options.PYTHON_VERBS:
        return
    names = CASES.get(verb) or REQUIRED.get(verb, [])
    code, _, err = run(capsys, *with_options(verb, names, "--python", sys.executable))
    assert code == 2
    assert "--python applies to" in err


def test_what_follows_the_script_of_run_is_the_scripts() -> None:
    argv = ["run", "--with", "x", "s.py", "--json", "-v", "--config", "c.toml", "--", "a"]
    args = cli.build_parser().parse_args(cli.options.hoist(argv))
    assert args.script == "s.py"
    assert args.with_ == ["x"]
    assert args.args == ["--json", "-v", "--config", "c.toml", "--", "a"]
    assert (args.config, args.global_json, args.verbose) == (None, False, 0)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.startswith(f"lazyext {__version__} ")
    assert run(capsys, "status", "--version")[0] == 0  # a global option after a verb too


def test_no_verb_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys)[0] == 2


def _assert_report(data: dict[str, Any], command: str) -> None:
    assert set(_shapes.REPORT_KEYS) <= set(data)
    assert data["command"] == command
    for row in data["extensions"]:
        assert sorted(row) == sorted(_shapes.EXTENSION_KEYS)


def test_one_json_shape_for_per_extension_results(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    outcomes = {}
    for argv in (
        ["warm"],
        ["status"],
        ["verify"],
        ["doctor"],
        ["refresh", "--force", "alpha"],
        ["health", "alpha"],
        ["invalidate", "alpha"],
    ):
        code, out, _err = run(capsys, *argv, "--json", "--config", str(config))
        data = json.loads(out)
        _assert_report(data, argv[0])
        outcomes[argv[0]] = (code, data["ok"])
    # warm: 'missing' does not exist -> the operation failed (1); the others report.
    assert outcomes["warm"] == (1, False)
    # status reports the remembered failure in its row; the command itself succeeded.
    assert outcomes["status"] == (0, True)
    assert outcomes["verify"] == (0, True)
    assert outcomes["doctor"] == (1, False)
    assert outcomes["refresh"] == (0, True)
    assert outcomes["health"] == (0, True)
    assert outcomes["invalidate"] == (0, True)


@pytest.mark.parametrize("verb", [v for v in VERBS if CASES.get(v)], ids=" ".join)
def test_an_unknown_name_with_json_prints_the_error_shape(
    verb: tuple[str, ...], capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    argv = with_options(verb, CASES[verb] or [], "--json", "--config", str(config))
    code, out, _ = run(capsys, *argv)
    assert code == 2
    data = json.loads(out)
    assert data["ok"] is False
    assert data["exit"] == 2
    assert data["command"] == " ".join(verb)
    assert set(data["error"]) == {"type", "message", "problems"}
    if verb == ("plugins", "validate"):  # its report of the problems is its result
        assert data["validation"]["ok"] is False
        return
    # One shape for an unknown name: the error alone, and what was wrong in its message.
    assert set(data) == {"ok", "command", "error", "exit"}
    assert SAYS.get(verb, "nosuch") in data["error"]["message"]


def test_one_json_shape_for_errors(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, _ = run(capsys, "warm", "nosuch", "--json", "--config", str(config))
    assert code == 2
    data = json.loads(out)
    assert data == {
        "ok": False,
        "command": "warm",
        "error": {
            "type": "ConfigError",
            "message": "no configured extension named 'nosuch'",
            "problems": ["no configured extension named 'nosuch'"],
        },
        "exit": 2,
    }


def _other_interpreter(tmp_path: Path) -> Path:
    """This venv's interpreter under another path (its own pyvenv.cfg and lib)."""
    venv = Path(sys.prefix)
    other = tmp_path / "other-venv"
    (other / "bin").mkdir(parents=True)
    (other / "pyvenv.cfg").write_text((venv / "pyvenv.cfg").read_text(), encoding="utf-8")
    (other / "lib").symlink_to(venv / "lib")
    python = other / "bin" / "python"
    python.symlink_to(os.path.realpath(sys.executable))
    return python


def test_python_runs_the_command_for_that_interpreter(
    config: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    python = _other_interpreter(tmp_path)
    code = cli.main(["status", "--json", "--config", str(config), "--python", str(python)])
    out, err = capfd.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert data["python"] == str(python)  # the report came from the other interpreter
    assert data["command"] == "status"


def test_python_without_lazyext_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bare = tmp_path / "bare" / "python"
    bare.parent.mkdir()
    bare.symlink_to(os.path.realpath(sys.executable))  # no pyvenv.cfg: no lazyext there
    code, _, err = run(capsys, "status", "--python", str(bare))
    assert code == 2
    assert "lazyext is not installed for that interpreter" in err
