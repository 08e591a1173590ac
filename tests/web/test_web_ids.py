"""Issue 12 #6: ids from URLs are checked before they reach the filesystem or SQL.

Each request for an unknown plugin used to leave two lock files behind (264 after a
fuzz, some named with control characters), and an id with a NUL byte or over 255
characters was a 500. Now every malformed or unknown id is a 404 in the usual error
body, and the data directory, the plugins directory and the cache are left exactly
as they were: not a file is created.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from webkit import plugin_files, zip_bytes

IDS = [
    "nope",  # well-formed, unknown
    "\x00",
    "a\x00b",
    "\x01\x02\x1f",
    "line\nbreak",
    "tab\there",
    "del\x7f",
    "x" * 300,
    "a" * 256,
    "..",
    ".hidden",
    "-dash",
    "a..b",
    "ünïcode",
    " ",
]

ROUTES = [
    ("GET", "/plugins/{}", None),
    ("DELETE", "/plugins/{}", None),
    ("PATCH", "/plugins/{}", {"enabled": True}),
    ("POST", "/plugins/{}/enable", None),
    ("POST", "/plugins/{}/disable", None),
    ("POST", "/plugins/{}/reload", None),
    ("GET", "/plugins/{}/snapshots", None),
    ("POST", "/plugins/{}/snapshots", {"note": "n"}),
    ("POST", "/plugins/{}/restore", {"snapshot": 1}),
    ("GET", "/tasks/{}", None),
    ("PUT", "/tasks/{}", {"func": "webfuncs:record", "trigger_args": {"hours": 1}}),
    ("PATCH", "/tasks/{}", {"name": "n"}),
    ("DELETE", "/tasks/{}", None),
    ("POST", "/tasks/{}/run", None),
    ("POST", "/tasks/{}/pause", None),
    ("POST", "/tasks/{}/resume", None),
    ("GET", "/tasks/{}/runs", None),
    ("GET", "/extensions/{}", None),
    ("POST", "/extensions/{}/invalidate", None),
]


def _tree(*roots: Path) -> set[str]:
    """Every path under ``roots`` (SQLite's transient journal files left out)."""
    found = set()
    for root in roots:
        for directory, dirs, files in os.walk(root):
            for name in dirs + files:
                if not name.endswith(("-wal", "-shm", "-journal")):
                    found.add(os.path.join(directory, name))
    return found


def test_a_fuzz_of_ids_is_404_and_creates_no_file(
    serve: Callable[..., Any], tmp_path: Path, cache_dir: Path
) -> None:
    client = serve(scheduler=False)
    # A real plugin, so that the directories exist and hold what they usually hold.
    data = zip_bytes(tmp_path / "idplug.zip", plugin_files("idplug"))
    assert client.post("/plugins/upload", files={"file": ("p.zip", data)}).status_code == 201
    assert client.post("/plugins/idplug/snapshots", json={}).status_code == 201
    assert client.get("/extensions").status_code == 200
    before = _tree(tmp_path / "data", cache_dir)
    assert any("plugin-idplug" in path for path in before)  # the lock of a real plugin

    answers = []
    for plugin_id in IDS:
        for method, path, body in ROUTES:
            url = path.format(quote(plugin_id, safe="").replace(".", "%2E"))
            response = client.request(method, url, json=body)
            answers.append((method, path, plugin_id, response.status_code))
            assert response.status_code == 404, (method, url, response.text)
            detail = response.json()["detail"]
            assert {"error", "message", "problems", "fix"} <= set(detail), detail
            assert "NotFound" in detail["error"], detail

    assert len(answers) == len(IDS) * len(ROUTES)
    after = _tree(tmp_path / "data", cache_dir)
    assert after == before, sorted(after ^ before)
    # The real plugin is untouched.
    assert client.get("/plugins/idplug").json()["id"] == "idplug"


def test_the_plugin_lock_refuses_an_id_that_cannot_be_a_plugin(
    config_file: Path, tmp_path: Path
) -> None:
    from lazyext.plugins import PluginManager, PluginNotFound

    with PluginManager(config_file) as manager:
        manager.list()
        before = _tree(tmp_path / "data")
        for plugin_id in ("\x00", "a\nb", "x" * 300, "..", "../../etc"):
            for action in (manager.enable, manager.disable, manager.reload, manager.snapshot):
                with pytest.raises(PluginNotFound):
                    action(plugin_id)
        assert _tree(tmp_path / "data") == before
