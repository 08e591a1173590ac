"""Helpers for tests: a wheelhouse builder and a child-interpreter runner."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lazyext._wheels import build_wheel

REPO = Path(__file__).resolve().parent.parent


class Wheelhouse:
    """A directory of wheels built on demand; ``options`` points lazyext at it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def build(
        self,
        name: str,
        version: str,
        files: Mapping[str, str | bytes],
        *,
        requires: tuple[str, ...] = (),
        entry_points: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Path:
        return build_wheel(
            self.path, name, version, files, requires=requires, entry_points=entry_points
        )

    def options(self, cache_dir: Path) -> dict[str, Any]:
        return {"cache_dir": cache_dir, "find_links": [str(self.path)], "no_index": True}

    def toml(self) -> str:
        return f'find-links = ["{self.path}"]\nno-index = true\n'


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: this one's, plus ``extra``."""
    env = dict(os.environ)
    env.update(extra)
    return env


def run_python(
    code: str,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (same venv); return the completed process."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=dict(env) if env is not None else python_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def build_tinyyaml(house: Wheelhouse, *, sub_padding: int = 0) -> None:
    """``TinyYaml 6.1`` (a package, a submodule, a sibling module) and its ``tinydep``.

    ``sub_padding`` lines of comments make the install a little longer (kill trials).
    """
    house.build("tinydep", "1.0", {"tinydep/__init__.py": "VALUE = 41\n"})
    house.build(
        "TinyYaml",
        "6.1",
        {
            "tinyyaml/__init__.py": (
                "import tinydep\n__version__ = '6.1'\n"
                "def load(text):\n    return tinydep.VALUE + 1\n"
            ),
            "tinyyaml/sub.py": "X = 1\n" + "# padding\n" * sub_padding,
            "_tinyyaml_speedups.py": "FAST = True\n",
        },
        requires=("tinydep>=1",),
    )
