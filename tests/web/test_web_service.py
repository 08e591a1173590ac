"""Issue 14, the web side: /healthz, the token in the OpenAPI document, logging."""

from __future__ import annotations

import ast
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from webkit import TOKEN, plugin_files, zip_bytes

import lazyext

BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_healthz_reports_the_scheduler_and_the_plugins(
    serve: Callable[..., Any], tmp_path: Path
) -> None:
    client = serve()  # no token: local clients need none
    health = client.get("/healthz")
    assert health.status_code == 200, health.text
    assert health.json() == {
        "status": "ok",
        "version": lazyext.__version__,
        "scheduler": {"configured": True, "running": True},
        "plugins": {"installed": 0, "enabled": 0, "loaded": 0, "failed": 0},
    }
    data = zip_bytes(tmp_path / "p.zip", plugin_files("healthplug"))
    files = {"file": ("p.zip", data)}
    assert client.post("/plugins/upload", files=files, params={"enable": 1}).status_code == 201
    plugins = client.get("/healthz").json()["plugins"]
    assert plugins == {"installed": 1, "enabled": 1, "loaded": 1, "failed": 0}

    quiet = serve(scheduler=False)
    assert quiet.get("/healthz").json()["scheduler"] == {"configured": False, "running": False}
    # Not local (DNS rebinding): refused like every route.
    assert quiet.get("/healthz", headers={"Host": "evil.example"}).status_code == 403


def test_healthz_needs_the_token_when_one_is_configured(serve: Callable[..., Any]) -> None:
    client = serve(token=TOKEN, scheduler=False)
    assert client.get("/healthz").status_code == 401
    assert client.get("/healthz", headers=BEARER).json()["status"] == "ok"


def test_the_token_is_a_bearer_scheme_in_the_openapi_document(
    serve: Callable[..., Any], config_file: Path
) -> None:
    from fastapi import FastAPI

    from lazyext.web import router

    client = serve(token=TOKEN, scheduler=False)
    document = client.get("/openapi.json").json()  # readable before authorizing
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["security"] == [{"bearerAuth": []}]
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert operations
    assert all({"bearerAuth": []} in op["security"] for op in operations)
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()

    # Without a token there is nothing to authorize with.
    local = serve(scheduler=False).get("/openapi.json").json()
    assert "securitySchemes" not in local.get("components", {})
    assert "security" not in local

    # In a host application, the host's document declares it.
    host = FastAPI()
    host.include_router(router(config_file, token=TOKEN, scheduler=False), prefix="/x")
    hosted = serve(host).get("/openapi.json").json()
    assert "bearerAuth" in hosted["components"]["securitySchemes"]
    assert hosted["paths"]["/x/tasks"]["get"]["security"] == [{"bearerAuth": []}]


def test_the_web_package_logs_under_lazyext_web(
    config_file: Path,
    serve: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from lazyext.plugins import PluginManager

    web = Path(lazyext.__file__).parent / "web"
    names = set()
    for module in web.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "getLogger":
                names.add(ast.literal_eval(node.args[0]))
    assert names == {"lazyext.web"}

    # Recorded as enabled; its on_enable fails in the server: a warning, named.
    fails = "import os; assert not os.environ.get('LOGPLUG_FAIL'), 'boom'"
    path = tmp_path / "logplug.zip"
    zip_bytes(path, plugin_files("logplug", on_enable=fails))
    with PluginManager(config_file) as plugins:
        plugins.install(path, enable=True)
    monkeypatch.setenv("LOGPLUG_FAIL", "1")
    with caplog.at_level(logging.WARNING, logger="lazyext"):
        client = serve(scheduler=False)
    records = [r for r in caplog.records if "logplug" in r.getMessage()]
    assert records, caplog.text
    assert {r.name for r in records} == {"lazyext.web"}
    assert client.get("/healthz").json()["plugins"]["failed"] == 1


def test_server_side_errors_are_logged_under_lazyext_web(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from fastapi import HTTPException

    from lazyext import LazyextError
    from lazyext._errors import LockTimeout
    from lazyext.web._errors import translated

    with caplog.at_level(logging.INFO, logger="lazyext"):
        with pytest.raises(HTTPException) as failed, translated():
            raise LazyextError("the disk said no")
        with pytest.raises(HTTPException) as busy, translated():
            raise LockTimeout("held by pid 1")
    assert (failed.value.status_code, busy.value.status_code) == (500, 503)
    # The 500 tells the client to see the server's log: it is there, with the traceback.
    records = {r.getMessage(): r for r in caplog.records}
    error = records["answered 500: LazyextError: the disk said no"]
    assert (error.name, error.levelno) == ("lazyext.web", logging.ERROR)
    assert error.exc_info is not None
    warning = records["answered 503: LockTimeout: held by pid 1"]
    assert (warning.name, warning.levelno) == ("lazyext.web", logging.WARNING)
