"""Issue 22 #8: ``OPTIONS`` and undeclared methods answer with the path's full ``Allow``.

``OPTIONS /tasks`` used to be a 405 with ``Allow: GET``, though ``/tasks`` takes POST
too; schemathesis counted five such paths. Every path of the document is checked
here, against the methods the document gives it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from webkit import TOKEN

METHODS = ("get", "post", "put", "patch", "delete")


def _concrete(path: str) -> str:
    return path.replace("{", "").replace("}", "")


def _matches(template: str, url: str) -> bool:
    return re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), url) is not None


def test_every_path_allows_what_the_document_says(serve: Callable[..., Any]) -> None:
    from lazyext.web.models import ErrorResponse

    client = serve(scheduler=False)
    paths = client.get("/openapi.json").json()["paths"]
    assert len(paths) >= 19
    for path, operations in paths.items():
        declared = {method.upper() for method in operations}
        url = _concrete(path)
        options = client.options(url)
        assert options.status_code == 204, (path, options.text)
        allowed = {method.strip() for method in options.headers["allow"].split(",")}
        assert allowed == declared | {"OPTIONS"}, path
        # /plugins/upload is also /plugins/{plugin_id}: a method that one takes is routed.
        routed = {m.upper() for other, ops in paths.items() if _matches(other, url) for m in ops}
        for method in sorted({m.upper() for m in METHODS} - routed):
            refused = client.request(method, url)
            assert refused.status_code == 405, (method, path, refused.text)
            assert refused.headers["allow"] == options.headers["allow"]
            assert ErrorResponse.model_validate(refused.json()).detail.error == "MethodNotAllowed"


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("/tasks", "GET, POST, OPTIONS"),
        ("/tasks/t", "GET, PUT, PATCH, DELETE, OPTIONS"),
        ("/plugins", "GET, POST, OPTIONS"),
        ("/plugins/p", "GET, PATCH, DELETE, OPTIONS"),
        # A literal path is its own, though a template's pattern matches it too.
        ("/plugins/upload", "POST, OPTIONS"),
        ("/extensions/warm", "POST, OPTIONS"),
        # The API's paths under /plugins/{id}/ win over the plugins' catch-all route.
        ("/plugins/p/enable", "POST, OPTIONS"),
        ("/plugins/p/snapshots", "GET, POST, OPTIONS"),
    ],
)
def test_allow_lists_every_method_of_the_path(
    serve: Callable[..., Any], url: str, allow: str
) -> None:
    client = serve(scheduler=False)
    assert client.options(url).headers["allow"] == allow
    assert client.request("TRACE", url).headers["allow"] == allow


def test_under_a_prefix_and_in_a_host_app(serve: Callable[..., Any], config_file: Path) -> None:
    from fastapi import FastAPI

    from lazyext.web import router

    prefixed = serve(scheduler=False, prefix="/manager")
    assert prefixed.options("/manager/tasks/t").headers["allow"] == (
        "GET, PUT, PATCH, DELETE, OPTIONS"
    )
    host = FastAPI()
    host.include_router(router(config_file, token=TOKEN, scheduler=False), prefix="/api")
    client = serve(host)
    # router() checks access itself: the fallbacks too.
    assert client.options("/api/tasks").status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    answer = client.options("/api/tasks", headers=bearer)
    assert (answer.status_code, answer.headers["allow"]) == (204, "GET, POST, OPTIONS")
    assert client.delete("/api/tasks", headers=bearer).status_code == 405
