"""``/extensions``: status, warm and invalidate (real uv installs from the wheelhouse)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")


def _state(client: Any) -> dict[str, str]:
    status = client.get("/extensions").json()
    return {row["name"]: row["state"] for row in status["extensions"]}


def test_status_warm_invalidate(serve: Callable[..., Any]) -> None:
    client = serve()
    status = client.get("/extensions").json()
    assert status["source"].endswith("lazyext.toml")
    assert status["platform"]
    assert _state(client) == {"tinyyaml": "missing"}

    warmed = client.post("/extensions/warm", json={"names": ["tinyyaml"]})
    assert warmed.status_code == 200, warmed.text
    result = warmed.json()["results"]["tinyyaml"]
    assert result["ok"], result
    row = client.get("/extensions").json()["extensions"][0]
    assert (row["state"], row["version"]) == ("installed", "6.1")
    assert row["path"] == result["detail"]
    assert row["size"] > 0

    invalidated = client.post("/extensions/tinyyaml/invalidate")
    # Its closure: TinyYaml and its dependency tinydep.
    assert invalidated.json() == {"name": "tinyyaml", "invalidated": 2}
    assert _state(client) == {"tinyyaml": "missing"}


def test_extension_errors(serve: Callable[..., Any]) -> None:
    client = serve()
    unknown = client.post("/extensions/nope/invalidate")
    assert unknown.status_code == 404
    assert unknown.json()["detail"]["error"] == "ExtensionNotFound"
    warm_unknown = client.post("/extensions/warm", json={"names": ["nope"]})
    assert warm_unknown.status_code == 422
    assert "no configured extension named 'nope'" in warm_unknown.json()["detail"]["message"]
    malformed = client.post("/extensions/warm", json={"names": "tinyyaml"})
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["loc"] == ["body", "names"]
    assert _state(client) == {"tinyyaml": "missing"}  # nothing was installed
