"""``/plugins``: uploads, routers that come and go, errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from webkit import asgi_answer, plugin_files, zip_bytes

from lazyext._wheels import build_wheel


@pytest.fixture(autouse=True)
def spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Uploads are spooled here (the server runs in this process): what is left is seen."""
    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


def upload(client: Any, data: bytes, name: str = "plugin.zip", **params: Any) -> Any:
    return client.post("/plugins/upload", files={"file": (name, data)}, params=params)


def hello(client: Any, plugin_id: str) -> Any:
    return client.get(f"/plugins/{plugin_id}/hello", params={"name": "api"})


def openapi_paths(client: Any) -> list[str]:
    return sorted(client.get("/openapi.json").json()["paths"])


def test_uploaded_plugin_routes_follow_enable_disable_uninstall(
    serve: Callable[..., Any], tmp_path: Path, spool: Path
) -> None:
    client = serve()
    data = zip_bytes(tmp_path / "webplug.zip", plugin_files("webplug"))

    installed = upload(client, data, "webplug.zip")
    assert installed.status_code == 201, installed.text
    assert installed.json()["status"] == "disabled"
    assert installed.json()["source"] == "upload:webplug.zip"  # not the deleted copy
    assert client.get("/plugins/webplug").json()["source"] == "upload:webplug.zip"
    assert not installed.json()["loaded"]
    assert list(spool.iterdir()) == []  # the upload's temporary copy is gone
    assert hello(client, "webplug").status_code == 404

    enabled = client.post("/plugins/webplug/enable")
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["loaded"]
    assert enabled.json()["routes"] == "/plugins/webplug/"
    assert hello(client, "webplug").json() == {"hello": "api", "version": "1.0"}
    assert "/plugins/webplug/hello" in openapi_paths(client)
    assert client.get("/plugins/webplug/nothing-here").status_code == 404

    disabled = client.post("/plugins/webplug/disable")
    assert disabled.json()["status"] == "disabled"
    gone = hello(client, "webplug")
    assert gone.status_code == 404
    assert gone.json()["detail"]["error"] == "NoPluginRoute"
    assert "/plugins/webplug/hello" not in openapi_paths(client)

    assert client.post("/plugins/webplug/enable").status_code == 200
    assert hello(client, "webplug").status_code == 200
    removed = client.delete("/plugins/webplug")
    assert removed.status_code == 200
    assert removed.json()["id"] == "webplug"
    assert hello(client, "webplug").status_code == 404
    assert client.get("/plugins/webplug").status_code == 404
    assert client.get("/plugins").json() == []


def test_upgrade_snapshot_restore_and_reload_keep_the_routes_current(
    serve: Callable[..., Any], tmp_path: Path
) -> None:
    client = serve()
    v1 = zip_bytes(tmp_path / "v1.zip", plugin_files("verplug", version="1.0"))
    v2 = zip_bytes(tmp_path / "v2.zip", plugin_files("verplug", version="2.0"))
    assert upload(client, v1, enable="true").json()["status"] == "enabled"
    assert hello(client, "verplug").json()["version"] == "1.0"

    snapshot = client.post("/plugins/verplug/snapshots", json={"note": "known good"})
    assert snapshot.status_code == 201, snapshot.text
    assert snapshot.json()["note"] == "known good"
    assert snapshot.json()["version"] == "1.0"

    upgraded = upload(client, v2)
    assert upgraded.status_code == 201
    assert upgraded.json()["version"] == "2.0"
    assert hello(client, "verplug").json()["version"] == "2.0"

    restored = client.post("/plugins/verplug/restore", json={"snapshot": snapshot.json()["id"]})
    assert restored.status_code == 200, restored.text
    assert restored.json()["version"] == "1.0"
    assert hello(client, "verplug").json()["version"] == "1.0"

    reloaded = client.post("/plugins/verplug/reload")
    assert reloaded.status_code == 200
    assert reloaded.json()["loaded"]
    assert hello(client, "verplug").json()["version"] == "1.0"

    detail = client.get("/plugins/verplug").json()
    notes = [s["note"] for s in detail["snapshots"]]
    assert "known good" in notes
    assert len(notes) >= 2
    listed = client.get("/plugins/verplug/snapshots").json()
    assert [s["id"] for s in listed] == [s["id"] for s in detail["snapshots"]]


def test_requirement_install_and_a_router_on_the_entry_object(
    serve: Callable[..., Any], wheels: Path
) -> None:
    files = plugin_files("reqplug", router_in="entry")
    files["reqplug/__init__.py"] = ""  # a distribution: the manifest is its entry point
    build_wheel(
        wheels,
        "reqplug",
        "1.0",
        files,
        entry_points={"lazyext.plugins": {"reqplug": "reqplug.run:Plugin"}},
    )
    client = serve()
    installed = client.post("/plugins", json={"requirement": "reqplug==1.0", "enable": True})
    assert installed.status_code == 201, installed.text
    assert installed.json()["source"] == "reqplug==1.0"
    assert hello(client, "reqplug").json() == {"hello": "api", "version": "1.0"}


@pytest.mark.parametrize("where", ["module", "submodule", "none"])
def test_where_a_router_is_found(serve: Callable[..., Any], tmp_path: Path, where: str) -> None:
    client = serve()
    data = zip_bytes(tmp_path / "p.zip", plugin_files(f"where{where}", router_in=where))
    enabled = upload(client, data, enable="true").json()
    assert enabled["loaded"]
    answer = hello(client, f"where{where}")
    if where == "none":
        assert enabled["routes"] is None
        assert answer.status_code == 404
    else:
        assert enabled["routes"] == f"/plugins/where{where}/"
        assert answer.json() == {"hello": "api", "version": "1.0"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/plugins/nope", None),
        ("DELETE", "/plugins/nope", None),
        ("POST", "/plugins/nope/enable", None),
        ("POST", "/plugins/nope/disable", None),
        ("POST", "/plugins/nope/reload", None),
        ("GET", "/plugins/nope/snapshots", None),
        ("POST", "/plugins/nope/snapshots", {}),
        ("POST", "/plugins/nope/restore", {"snapshot": 1}),
        ("PATCH", "/plugins/nope", {"enabled": True}),
    ],
)
def test_unknown_plugin_is_404(
    serve: Callable[..., Any], method: str, path: str, body: Any
) -> None:
    client = serve()
    response = client.request(method, path, json=body)
    assert response.status_code == 404, response.text
    assert response.json()["detail"]["error"] == "PluginNotFound"
    assert "GET /plugins" in response.json()["detail"]["fix"]


def test_plugin_conflicts_and_bad_input(serve: Callable[..., Any], tmp_path: Path) -> None:
    client = serve()
    data = zip_bytes(tmp_path / "p.zip", plugin_files("confplug"))
    assert upload(client, data).status_code == 201

    unknown_snapshot = client.post("/plugins/confplug/restore", json={"snapshot": 999})
    assert unknown_snapshot.status_code == 404

    reload_disabled = client.post("/plugins/confplug/reload")
    assert reload_disabled.status_code == 409
    assert "disabled" in reload_disabled.json()["detail"]["message"]

    boom = "raise RuntimeError('no database')"
    bad = zip_bytes(tmp_path / "bad.zip", plugin_files("boomplug", on_enable=boom))
    failed = upload(client, bad, enable="true")
    assert failed.status_code == 409
    detail = failed.json()["detail"]
    assert detail["error"] == "PluginEnableError"
    assert "no database" in detail["message"]
    assert client.get("/plugins/boomplug").json()["status"] == "failed"
    assert hello(client, "boomplug").status_code == 404

    taken = zip_bytes(tmp_path / "t.zip", plugin_files("confplug", plugin_id="other-id"))
    clash = upload(client, taken)
    assert clash.status_code == 422
    assert "already ships confplug" in clash.json()["detail"]["message"]

    assert client.post("/plugins/confplug/restore", json={}).status_code == 422


@pytest.mark.parametrize(
    ("requirement", "error"),
    [
        ("../elsewhere/plugin", "NotARequirement"),
        ("plugin.zip", "NotARequirement"),
        ("/etc", "NotARequirement"),
        ("not a requirement!!", "ConfigError"),
        ("pkg --no-deps", "ConfigError"),
        ("pkg @ file:///etc/passwd", "NotARequirement"),
        ("pkg@FILE:relative.whl", "NotARequirement"),
        ("pkg @ git+file:///srv/repo", "NotARequirement"),
        # A requirement (not a path), refused for its URL: the message says what to set.
        ("pkg @ https://plugins.example/pkg-1.0-py3-none-any.whl", "allow-direct-urls"),
    ],
)
def test_install_takes_requirements_only(
    serve: Callable[..., Any], requirement: str, error: str
) -> None:
    client = serve()
    response = client.post("/plugins", json={"requirement": requirement})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert error == detail["error"] or error in detail["message"]
    assert client.get("/plugins").json() == []


def test_bad_uploads_are_refused(serve: Callable[..., Any], tmp_path: Path) -> None:
    client = serve()
    not_zip = upload(client, b"just some text", "notes.zip")
    assert not_zip.status_code == 422
    assert "notes.zip" in not_zip.json()["detail"]["message"]  # named as uploaded
    no_file = client.post("/plugins/upload", files={"other": ("p.zip", b"x")})
    assert no_file.status_code == 422
    assert no_file.json()["detail"]["error"] == "MissingFile"
    data = zip_bytes(tmp_path / "p.zip", plugin_files("extraplug"))
    extra = client.post(
        "/plugins/upload", files={"file": ("p.zip", data)}, data={"comment": "hello"}
    )
    assert extra.status_code == 422  # the document allows no other field
    assert extra.json()["detail"]["error"] == "UnknownField"
    assert "'comment'" in extra.json()["detail"]["message"]
    as_json = client.post("/plugins/upload", json={"file": "x"})
    assert as_json.status_code == 415
    assert client.get("/plugins").json() == []


def _symlink_zip(path: Path) -> bytes:
    files = plugin_files("linkplug")
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        link = zipfile.ZipInfo("linkplug/data.txt")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return path.read_bytes()


MALICIOUS: dict[str, Callable[[Path], bytes]] = {
    "traversal": lambda p: zip_bytes(p, {**plugin_files("evilplug"), "../evil.py": "X = 1\n"}),
    "absolute": lambda p: zip_bytes(p, {**plugin_files("evilplug"), "/tmp/evil.py": "X = 1\n"}),
    "backslash": lambda p: zip_bytes(p, {**plugin_files("evilplug"), "..\\evil.py": "X=1\n"}),
    "symlink": _symlink_zip,
    "bomb": lambda p: zip_bytes(
        p, {**plugin_files("evilplug"), "evilplug/z.bin": b"\0" * (8 << 20)}
    ),
    "case collision": lambda p: zip_bytes(
        p, {**plugin_files("evilplug"), "evilplug/A.py": "", "evilplug/a.py": ""}
    ),
}


@pytest.mark.parametrize("kind", sorted(MALICIOUS))
def test_malicious_uploads_are_refused_before_anything_is_written(
    serve: Callable[..., Any], tmp_path: Path, spool: Path, kind: str
) -> None:
    data = MALICIOUS[kind](tmp_path / "evil.zip")
    client = serve()
    response = upload(client, data, "evil.zip", enable="true")
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["error"] == "UnsafeArchiveError", detail
    assert "refusing" in detail["message"] or "collides" in detail["message"]
    assert client.get("/plugins").json() == []
    plugins_dir = tmp_path / "data" / "plugins"
    assert not [p for p in plugins_dir.rglob("*") if p.is_file()]
    assert not (tmp_path / "evil.py").exists()
    assert not (tmp_path / "data" / "evil.py").exists()
    assert list(spool.iterdir()) == []


def test_uploads_over_the_limit_are_refused_early_and_while_streaming(
    serve: Callable[..., Any], tmp_path: Path, spool: Path
) -> None:
    limit = 64 * 1024
    client = serve(max_upload_bytes=limit)
    boundary = "lazyextboundary"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        'filename="big.zip"\r\nContent-Type: application/zip\r\n\r\n'
    ).encode()
    multipart = ("content-type", f"multipart/form-data; boundary={boundary}")

    # Declared too large: answered at once, while the body has not been sent at all.
    declared = [multipart, ("content-length", "1000000000")]
    status, body, reads = asgi_answer(client.app, "POST", "/plugins/upload", declared)
    assert (status, reads) == (413, 0), body
    assert json.loads(body)["detail"]["error"] == "UploadTooLarge"

    # Chunked, no length: refused once the bytes read pass the limit, though the
    # request never ends.
    chunked = [multipart, ("transfer-encoding", "chunked")]
    chunks = [part, *[b"x" * limit] * 4]
    status, body, reads = asgi_answer(client.app, "POST", "/plugins/upload", chunked, chunks)
    assert status == 413, body
    assert reads <= 3  # the file's limit, or the body's with the envelope: not all four

    # Under the envelope's slack but over the file limit: the file is counted exactly.
    data = os.urandom(limit + 1)
    too_big = upload(client, data, "big.zip")
    assert too_big.status_code == 413
    assert too_big.json()["detail"]["error"] == "UploadTooLarge"
    assert "max-upload-bytes" in too_big.json()["detail"]["fix"]
    assert list(spool.iterdir()) == []
    assert client.get("/plugins").json() == []


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def test_routes_follow_changes_made_by_another_process(
    serve: Callable[..., Any], tmp_path: Path, config_file: Path
) -> None:
    with config_file.open("a", encoding="utf-8") as handle:
        handle.write("[plugins]\nhot-reload = true\nreload-interval = 0.1\nreload-debounce = 0\n")
    client = serve()
    v1 = zip_bytes(tmp_path / "v1.zip", plugin_files("farplug", version="1.0"))
    zip_bytes(tmp_path / "v2.zip", plugin_files("farplug", version="2.0"))
    assert upload(client, v1, enable="true").status_code == 201
    assert hello(client, "farplug").json()["version"] == "1.0"

    def cli(*args: str) -> None:
        command = [sys.executable, "-m", "lazyext", "--config", str(config_file), "plugins"]
        result = subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr

    cli("install", str(tmp_path / "v2.zip"))
    _until(lambda: hello(client, "farplug").json().get("version") == "2.0", "upgrade followed")
    cli("disable", "farplug")
    _until(lambda: hello(client, "farplug").status_code == 404, "disable followed")


ARGUMENTS_PLUGIN = {
    "argplug/__init__.py": "PLUGIN_INFO = {'id': 'argplug', 'version': '1.0'}\n",
    "argplug/run.py": """
from fastapi import APIRouter

router = APIRouter()
SEEN = {}


class Plugin:
    def __init__(self, arguments):
        self.arguments = dict(arguments)

    def on_enable(self):
        if self.arguments.get("fail"):
            raise RuntimeError("refusing these arguments")
        SEEN.clear()
        SEEN.update(self.arguments)


@router.get("/arguments")
def arguments() -> dict:
    return SEEN
""",
}


def test_patch_changes_the_record_enabled_and_arguments(
    serve: Callable[..., Any], tmp_path: Path, config_file: Path
) -> None:
    # Issue 23: the record could not be changed on its own (the seed's PluginUpdate).
    with config_file.open("a", encoding="utf-8") as handle:
        handle.write('[plugins.arguments.argplug]\nfrom_config = 1\ngreeting = "config"\n')
    client = serve()
    data = zip_bytes(tmp_path / "argplug.zip", ARGUMENTS_PLUGIN)
    assert upload(client, data).status_code == 201

    def seen() -> Any:
        return client.get("/plugins/argplug/arguments")

    # Disabled: only the record changes; the config's arguments stay under the new ones.
    patched = client.patch("/plugins/argplug", json={"arguments": {"greeting": "hi"}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["arguments"] == {"from_config": 1, "greeting": "hi"}
    assert (patched.json()["status"], patched.json()["loaded"]) == ("disabled", False)

    enabled = client.patch("/plugins/argplug", json={"enabled": True}).json()
    assert (enabled["status"], enabled["loaded"]) == ("enabled", True)
    assert seen().json() == {"from_config": 1, "greeting": "hi"}

    # Running: reloaded with the new arguments (a new revision, which others follow).
    running = client.patch("/plugins/argplug", json={"arguments": {"greeting": "hello"}})
    assert running.status_code == 200, running.text
    assert running.json()["revision"] > enabled["revision"]
    assert seen().json() == {"from_config": 1, "greeting": "hello"}

    # Arguments the plugin refuses: the previous ones and the previous version stay.
    refused = client.patch("/plugins/argplug", json={"arguments": {"fail": True}})
    assert refused.status_code == 409, refused.text
    assert "refusing these arguments" in refused.json()["detail"]["message"]
    kept = client.get("/plugins/argplug").json()
    assert kept["arguments"] == {"from_config": 1, "greeting": "hello"}
    assert (kept["status"], kept["loaded"]) == ("enabled", True)
    assert seen().json() == {"from_config": 1, "greeting": "hello"}

    # Both fields at once; nothing sent changes nothing.
    both = {"enabled": False, "arguments": {"greeting": "bye"}}
    disabled = client.patch("/plugins/argplug", json=both).json()
    assert (disabled["status"], disabled["loaded"]) == ("disabled", False)
    assert seen().status_code == 404
    assert client.patch("/plugins/argplug", json={}).json()["arguments"] == {
        "from_config": 1,
        "greeting": "bye",
    }
    assert client.patch("/plugins/argplug", json={"enabled": True}).status_code == 200
    assert seen().json() == {"from_config": 1, "greeting": "bye"}

    # The seed's other fields come from the manifest: not changeable here.
    for field in ({"version": "2.0"}, {"name": "other"}, {"enabled": "yes"}):
        assert client.patch("/plugins/argplug", json=field).status_code == 422, field
