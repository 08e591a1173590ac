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
