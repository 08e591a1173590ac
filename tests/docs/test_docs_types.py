"""The Python examples of the README and of the site pass ``mypy --strict``, as a user's
code that follows them would (issue 25, item 8).

One mypy run checks them all, each block its own module; ``--ignore-missing-imports``
because what an example imports through lazyext (``yaml``) is not installed: that is the
point. Signature listings and blocks that are not run are left out.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from docblocks import Block, all_blocks

CHECKED = [
    block for block in all_blocks() if block.lang == "python" and block.kind in {"python", "file"}
]


def _module(block: Block) -> str:
    stem = re.sub(r"\W+", "_", block.path.removesuffix(".md")).strip("_").lower()
    return f"example_{stem}_{block.line}"


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    root = tmp_path_factory.mktemp("examples")
    for block in CHECKED:
        (root / f"{_module(block)}.py").write_text(block.text, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports",
            "--no-error-summary", "--cache-dir", str(root / ".mypy_cache"),
            *sorted(str(path) for path in root.glob("*.py")),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode in {0, 1}, result.stdout + result.stderr
    errors: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        name = Path(line.split(":", 1)[0]).stem
        errors.setdefault(name, []).append(line)
    return errors


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in CHECKED])
def test_example_type_checks(block: Block, mypy_errors: dict[str, list[str]]) -> None:
    assert mypy_errors.get(_module(block), []) == []
