"""``Extension`` takes any sequence of strings (mypy too) and shows its real signature."""

from __future__ import annotations

import inspect
import pydoc
import subprocess
import sys
from pathlib import Path

import lazyext


def test_signature_and_help() -> None:
    signature = inspect.signature(lazyext.Extension)
    assert list(signature.parameters) == [
        "name",
        "package",
        "modules",
        "enabled",
        "arguments",
        "hashes",
    ]
    assert signature.parameters["package"].default is None
    assert "Sequence[str]" in str(signature.parameters["modules"].annotation)
    # 3.13's pydoc wraps a long signature over several " |  " lines: compare without them.
    text = pydoc.render_doc(lazyext.Extension, renderer=pydoc.plaintext)
    rendered = "".join(text.replace(" |", " ").split())
    assert "Extension(name:'str',package:" in rendered


def test_config_is_exported() -> None:
    assert lazyext.Config.__module__ == "lazyext._settings.config"
    assert "Config" in lazyext.__all__
    loaded = lazyext.activate({"a": "alpha"})
    assert isinstance(loaded, lazyext.Config)


def test_lists_are_accepted_at_run_time() -> None:
    extension = lazyext.Extension("yaml", "PyYAML>=6", modules=["yaml", "_yaml"])
    assert extension.modules == ("yaml", "_yaml")
    assert extension == lazyext.Extension("yaml", "PyYAML>=6", modules=("yaml", "_yaml"))


def test_mypy_accepts_sequences(tmp_path: Path) -> None:
    script = tmp_path / "user.py"
    script.write_text(
        "import lazyext\n"
        "a = lazyext.Extension('yaml', 'PyYAML>=6', modules=['yaml'], hashes=['sha256:00'])\n"
        "b = lazyext.Extension('yaml', modules=('yaml',))\n"
        "c: lazyext.Config = lazyext.activate([a, b])\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_run_task_and_get_are_typed_precisely(tmp_path: Path) -> None:
    script = tmp_path / "user.py"
    script.write_text(
        "import lazyext\n"
        "from lazyext.plugins import Plugin\n"
        "from lazyext.tasks import TaskRun\n"
        "tasks = lazyext.TaskManager()\n"
        "run = tasks.run_task('nightly')\n"
        "print(run.status, run.attempts)  # a TaskRun, never None, with wait=True\n"
        "background: None = tasks.run_task('nightly', wait=False)\n"
        "either: TaskRun | None = tasks.run_task('nightly', wait=bool(run))\n"
        "with lazyext.PluginManager() as plugins:\n"
        "    entry = plugins.get('my-plugin', Plugin)\n"
        "    print(dict(entry.arguments))\n"
        "    anything: object = plugins.get('my-plugin')\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_get_checks_the_kind(tmp_path: Path) -> None:
    import pytest

    from lazyext.plugins import Plugin, PluginError, PluginManager

    folder = tmp_path / "kinded"
    folder.mkdir()
    (folder / "__init__.py").write_text("PLUGIN_INFO = {'id': 'kinded', 'version': '1'}\n")
    (folder / "run.py").write_text("class Plugin:\n    pass\n")
    with PluginManager(directory=tmp_path / "plugins") as plugins:
        plugins.install(folder, enable=True)
        entry = plugins.get("kinded")
        assert plugins.get("kinded", object) is entry
        with pytest.raises(PluginError, match="not a Plugin"):
            plugins.get("kinded", Plugin)
