"""``--json``: exactly one JSON document on stdout, from every verb (issue 25, item 4).

Every verb of the parser is driven once with ``--json``, in an order that gives each
one something to act on; stdout must parse as one document (``json.loads`` refuses
trailing data) whose ``ok`` says whether the exit code is 0, and a failure carries
``error`` and ``exit``. The output of user code (a task function, a plugin hook, a
child process of either) goes to stderr. A verb added without a step here fails
``test_every_verb_is_driven``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from lazyext import cli

from support import Wheelhouse, python_env

ERROR_KEYS = {"type", "message", "problems"}


def _verbs(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: list[tuple[str, ...]] = []
            for name, sub in action.choices.items():
                found += _verbs(sub, (*prefix, name))
            return found
    return [prefix]


VERBS = _verbs(cli.build_parser())
#: Driven in a child process below (they run until a signal stops them).
LONG_RUNNING = {("scheduler",), ("serve",)}

PLUGIN_INIT = "PLUGIN_INFO = {'id': 'echo', 'version': '1.0'}\n"
PLUGIN_RUN = """\
import os


class Plugin:
    def on_enable(self):
        print("HOOK-OUTPUT")
        os.system("echo HOOK-CHILD-OUTPUT")
"""
TASK_MODULE = """\
import os


def speak():
    print("TASK-OUTPUT")
    os.system("echo TASK-CHILD-OUTPUT")
"""


@pytest.fixture
def project(tmp_path: Path, wheelhouse: Wheelhouse, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "sources" / "echo_plugin").mkdir(parents=True)
    (root / "sources" / "echo_plugin" / "__init__.py").write_text(PLUGIN_INIT, encoding="utf-8")
    (root / "sources" / "echo_plugin" / "run.py").write_text(PLUGIN_RUN, encoding="utf-8")
    (root / "jsontaskfuncs.py").write_text(TASK_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))
    config = root / "lazyext.toml"
    config.write_text(
        wheelhouse.toml() + '[[extensions]]\nname = "alpha"\npackage = "alpha"\n', encoding="utf-8"
    )
    monkeypatch.setenv("LAZYEXT_CONFIG", str(config))
    return root


def run(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    # After `run SCRIPT` the arguments are the script's: lazyext's options come first.
    given = [argv[0], "--json", *argv[1:]] if argv[0] == "run" else [*argv, "--json"]
    code = cli.main(given)
    out, err = capfd.readouterr()
    try:
        document = json.loads(out)  # one document: trailing output fails here
    except ValueError as error:
        raise AssertionError(f"lazyext {' '.join(argv)}: not one JSON document: {out!r}") from error
    assert isinstance(document, dict), document
    assert document["ok"] is (code == 0), document
    if code != 0:
        assert document["exit"] == code
        assert set(document["error"]) == ERROR_KEYS, document
    return code, document, err


def steps(root: Path) -> list[tuple[tuple[str, ...], list[str], int]]:
    """(verb, its arguments, the exit code expected), in an order that works."""
    archive = str(root / "cache.tar.gz")
    registry = root / "registry.toml"
    registry.write_text(
        '[[extensions]]\nname = "beta"\npackage = "beta"\ntags = ["greek"]\n', encoding="utf-8"
    )
    script = root / "hello.py"
    script.write_text('# /// script\n# dependencies = ["beta"]\n# ///\nimport beta\n')
    return [
        (("status",), [], 0),
        (("warm",), [], 0),
        (("verify",), [], 0),
        (("doctor",), [], 0),
        (("refresh",), ["--force", "alpha"], 0),
        (("health",), ["alpha"], 0),
        (("lock",), ["-o", str(root / "pylock.toml")], 0),
        (("pack",), ["-o", archive], 0),
        (("invalidate",), ["alpha"], 0),
        (("gc",), ["--grace", "0"], 0),
        (("unpack",), [archive], 0),
        (("plugins", "validate"), [str(root / "sources" / "echo_plugin")], 0),
        (("plugins", "install"), [str(root / "sources" / "echo_plugin"), "--enable"], 0),
        (("plugins", "list"), [], 0),
        (("plugins", "info"), ["echo"], 0),
        (("plugins", "disable"), ["echo"], 0),
        (("plugins", "enable"), ["echo"], 0),
        (("plugins", "reload"), ["echo"], 0),
        (("plugins", "snapshot"), ["echo", "--note", "n"], 0),
        (("plugins", "snapshots"), ["echo"], 0),
        (("plugins", "restore"), ["echo", "1"], 0),
        (("plugins", "uninstall"), ["echo"], 0),
        (("tasks", "add"), ["jsontaskfuncs:speak", "--every", "1h", "--id", "speak"], 0),
        (("tasks", "list"), [], 0),
        (("tasks", "pause"), ["speak"], 0),
        (("tasks", "resume"), ["speak"], 0),
        (("tasks", "run"), ["speak"], 0),
        (("tasks", "show"), ["speak"], 0),
        (("tasks", "remove"), ["speak"], 0),
        (("completion",), ["bash"], 0),
        (("schema",), [], 0),
        (("search",), ["--registry", str(registry), "greek"], 0),
        (("add",), ["--registry", str(registry), "beta"], 0),
        (("remove",), ["beta"], 0),
        (("run",), [str(script)], 0),  # the script's own output is on stderr
    ]


def test_every_verb_is_driven(tmp_path: Path) -> None:
    driven = {verb for verb, _, _ in steps(tmp_path)} | LONG_RUNNING
    assert [verb for verb in VERBS if verb not in driven] == []


def test_every_verb_prints_one_document_with_ok(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    user_output = ("HOOK-OUTPUT", "HOOK-CHILD-OUTPUT", "TASK-OUTPUT", "TASK-CHILD-OUTPUT")
    said = ""
    for verb, arguments, expected in steps(project):
        code, document, err = run(capfd, *verb, *arguments)
        assert code == expected, (verb, document, err)
        assert document["command"] == " ".join(verb)
        said += err
    for text in user_output:  # on stderr, never on stdout (run() parsed every stdout)
        assert text in said


def test_a_failed_plugin_install_prints_a_document(
    project: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    failing = project / "sources" / "failing_plugin"
    failing.mkdir()
    (failing / "__init__.py").write_text(
        "PLUGIN_INFO = {'id': 'failing', 'version': '1.0'}\n", encoding="utf-8"
    )
    (failing / "run.py").write_text(
        "class Plugin:\n    def on_enable(self):\n        raise RuntimeError('nope')\n",
        encoding="utf-8",
    )
    code, document, err = run(capfd, "plugins", "install", str(failing), "--enable")
    assert code == 1
    assert document["error"]["type"] == "PluginEnableError"
    assert "nope" in document["error"]["message"]
    assert "nope" in err


def test_a_usage_error_prints_a_document(capfd: pytest.CaptureFixture[str]) -> None:
    code, document, err = run(capfd, "status", "--no-such-option")
    assert code == 2
    assert document["error"]["type"] == "UsageError"
    assert "--no-such-option" in document["error"]["message"]
    assert "usage: lazyext" in err


def test_a_failure_names_what_failed(project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    config = project / "lazyext.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + '[[extensions]]\nname = "missing"\npackage = "nosuchdist"\n',
        encoding="utf-8",
    )
    code, document, _ = run(capfd, "warm")
    assert code == 1
    assert document["error"]["type"] == "DistributionNotFound"
    assert document["error"]["message"] == "1 of 2 extensions failed: missing"
    assert document["error"]["problems"][0].startswith("missing: cannot install nosuchdist")
    assert [row["ok"] for row in document["extensions"]] == [True, False]


def _until(child: subprocess.Popen[str], text: str) -> str:
    """stderr of ``child`` up to the first line holding ``text``."""
    assert child.stderr is not None
    seen = ""
    for line in child.stderr:
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never came: {seen}")


def _long_running(project: Path, argv: list[str], ready: str) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "lazyext", *argv, "--json"],
        cwd=project,
        env=python_env(PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return child, _until(child, ready)


def _stop(child: subprocess.Popen[str], signum: int) -> dict[str, Any]:
    child.send_signal(signum)
    out, err = child.communicate(timeout=60)
    document = json.loads(out)
    assert document["ok"] is (child.returncode == 0), (document, err)
    return dict(document)


def test_the_scheduler_prints_one_document_when_it_stops(project: Path) -> None:
    child, _ = _long_running(project, ["scheduler", "--no-maintenance"], "Ctrl-C stops")
    document = _stop(child, signal.SIGTERM)
    assert (child.returncode, document["command"]) == (0, "scheduler")


def test_the_server_prints_one_document_when_it_stops(project: Path) -> None:
    import httpx

    child, said = _long_running(
        project, ["serve", "--port", "0", "--no-scheduler"], "Uvicorn running on"
    )
    url = said.rsplit("Uvicorn running on ", 1)[1].split()[0]
    deadline = time.monotonic() + 30
    while True:  # the access log goes to stderr, not stdout
        try:
            assert httpx.get(f"{url}/healthz").status_code in {200, 401}
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    document = _stop(child, signal.SIGINT)
    assert document["command"] == "serve"


def test_python_forwards_one_document(project: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code, document, _ = run(capfd, "status", "--python", "/nonexistent/python")
    assert code == 2
    assert "no such interpreter" in document["error"]["message"]


def test_output_of_child_processes_is_not_on_stdout(project: Path, tmp_path: Path) -> None:
    # The whole command in a child of its own: stdout is a real pipe here.
    code = textwrap.dedent(
        """
        import sys
        from lazyext.cli import main
        sys.exit(main(["tasks", "add", "jsontaskfuncs:speak", "--every", "1h", "--id", "s"]))
        """
    )
    env = python_env(PYTHONPATH=os.pathsep.join([str(project), *sys.path]))
    added = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert added.returncode == 0, added.stderr
    ran = subprocess.run(
        [sys.executable, "-m", "lazyext", "tasks", "run", "s", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["run"]["status"] == "ok"
    assert "TASK-CHILD-OUTPUT" in ran.stderr
    assert "TASK-OUTPUT" in ran.stderr
