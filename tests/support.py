"""Helpers for tests: a wheelhouse builder and a child-interpreter runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lazyext._store import entries as _cache
from lazyext._store.entries import Entry
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


def build_tinyyaml(house: Wheelhouse, *, sub_padding: int = 0, version: str = "6.1") -> None:
    """``TinyYaml 6.1`` (a package, a submodule, a sibling module) and its ``tinydep``.

    ``sub_padding`` lines of comments make the install a little longer (kill trials).
    """
    house.build("tinydep", "1.0", {"tinydep/__init__.py": "VALUE = 41\n"})
    house.build(
        "TinyYaml",
        version,
        {
            "tinyyaml/__init__.py": (
                f"import tinydep\n__version__ = {version!r}\n"
                "def load(text):\n    return tinydep.VALUE + 1\n"
            ),
            "tinyyaml/sub.py": "X = 1\n" + "# padding\n" * sub_padding,
            "_tinyyaml_speedups.py": "FAST = True\n",
        },
        requires=("tinydep>=1",),
    )


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def published(cache_dir: Path) -> dict[str, list[Path]]:
    """The published generations of each distribution, oldest first, by the normalized
    name of the ``.dist-info`` inside (one cache entry per distribution)."""
    found: dict[str, list[Path]] = {}
    for generation in sorted((cache_dir / "entries").glob("*/*/g*"), key=lambda p: p.name):
        for info in sorted((generation / "target").glob("*.dist-info")):
            dist = info.name.removesuffix(".dist-info").rpartition("-")[0]
            found.setdefault(_normal(dist), []).append(generation)
    return found


def publications(cache_dir: Path) -> dict[str, int]:
    """How many times each distribution was published (1: installed once)."""
    return {dist: len(generations) for dist, generations in published(cache_dir).items()}


def entry_of(cache_dir: Path, dist: str) -> Path:
    """The newest published generation of distribution ``dist`` (its cache entry)."""
    generations = published(cache_dir).get(_normal(dist))
    assert generations, f"{dist} is not published in {cache_dir}"
    return generations[-1]


def republish(root: str, entry: Entry) -> str:
    """Publish a copy of ``entry`` as a newer generation of its key; return its path.

    A distribution's entry is installed once: newer generations of one key come only
    from a repair or a reinstall racing an older reader, which tests stage directly.
    """
    staging = _cache.new_staging(root, entry.key)
    os.rmdir(staging)
    shutil.copytree(entry.path, staging, symlinks=True)
    return _cache.publish(staging, root, entry.key, entry.platform)


def gc_collect(root: str | os.PathLike[str], **options: Any) -> Any:
    """``lazyext._store.gc.collect`` with the keys the stored environments name."""
    from lazyext._env.stored import referenced_keys
    from lazyext._store import gc

    return gc.collect(str(root), referenced=referenced_keys(str(root)), **options)
