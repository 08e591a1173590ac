"""The README's first command: ``python -m lazyext.demo``, offline, on wheels it builds."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_demo_runs_cold_then_warm(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "lazyext.demo", "--dir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    cold = out.index("cold (empty cache: uv installs):")
    warm = out.index("warm (new process, cached):")
    assert cold < warm
    timings = re.findall(r"import of 3 extensions took (\d+\.\d) ms", out)
    assert len(timings) == 2, out
    assert out.count("Hello, lazyext!") == 2
    assert out.count("found through a .pth path line") == 2
    assert out.count("versions: 1.0 2.1 1.2") == 2
    # The closing status lists the three extensions as installed.
    for name in ("greeting", "colors", "pathy"):
        assert re.search(rf"^{name}\s+installed\s", out, re.MULTILINE), out
    assert (workdir / "cache" / "entries").is_dir()
    assert sorted(p.name for p in (workdir / "wheels").iterdir()) == [
        "demo_colors-2.1-py3-none-any.whl",
        "demo_greeting-1.0-py3-none-any.whl",
        "demo_pathy-0.3-py3-none-any.whl",
        "demo_words-1.2-py3-none-any.whl",
    ]


def test_demo_refuses_a_directory_it_did_not_make(tmp_path: Path) -> None:
    # `--dir .` (or any directory of the user's) must not be wiped to make room.
    precious = tmp_path / "project"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "lazyext.demo", "--dir", str(precious)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not empty" in result.stderr
    assert (precious / "notes.txt").read_text(encoding="utf-8") == "keep me\n"
