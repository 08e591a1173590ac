"""Fixtures of the documentation tests: one sandbox per session (see docsandbox)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from docsandbox import Project, Sandbox, make_sandbox


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    root = tmp_path_factory.mktemp("docs-sandbox")
    os.chmod(root, 0o700)
    return make_sandbox(root, os.environ["UV_CACHE_DIR"])


@pytest.fixture
def project(sandbox: Sandbox, tmp_path: Path) -> Project:
    return Project(sandbox, tmp_path / "user")
