"""The benchmark harness runs end to end (``--quick``: one repetition, no timing checks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO, python_env

IDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7-B1", "B7-B2", "B7-B4")


@pytest.mark.slow
def test_quick_run_prints_the_whole_table(tmp_path: Path) -> None:
    work = tmp_path / "bench"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--work", str(work)],
        cwd=REPO,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert "| id " in done.stdout
    rows = [line.split("|")[1].strip() for line in lines if line.startswith("| B")]
    assert set(IDS) <= set(rows)
    # 1 and 1,500 modules x uv cold/warm, a new config of each, an environment resolved,
    # the index x uv cold/warm.
    assert len([row for row in rows if row == "B4"]) == 9
    assert len([row for row in rows if row == "B3"]) == 3
    assert any(line.endswith("targets met") for line in lines)
    # Each row carries both measured figures and a verdict.
    for line in lines:
        if line.startswith("| B"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            assert len(cells) == 7
            assert cells[-1] in {"yes", "NO"}
    # The 16 racing processes publish what one process alone does (one entry per
    # distribution), even in a smoke run.
    b6 = [line for line in lines if "entries published by the 16" in line]
    assert len(b6) == 1
    assert b6[0].rstrip(" |").endswith("yes"), b6
