"""Who may call the API: the token, local-only access without one, router() in a host."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from webkit import TOKEN, plugin_files, zip_bytes

from lazyext import ConfigError
from lazyext._settings.load import load

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789abcdef"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ],
    ids=["none", "wrong", "longer", "shorter", "basic", "no-scheme"],
)
def test_a_wrong_token_is_refused_everywhere(
    serve: Callable[..., Any], tmp_path: Path, headers: dict[str, str]
) -> None:
    client = serve(token=TOKEN)
    data = zip_bytes(tmp_path / "p.zip", plugin_files("tokplug"))
    assert (
        client.post(
            "/plugins/upload",
            files={"file": ("p.zip", data)},
            params={"enable": "true"},
            headers=BEARER,
        ).status_code
        == 201
    )
    for method, path in [
        ("GET", "/tasks"),
        ("POST", "/tasks"),
        ("POST", "/openapi.json"),
        ("GET", "/healthz"),
        ("GET", "/plugins"),
        ("POST", "/plugins/upload"),
        ("GET", "/plugins/tokplug/hello"),  # a plugin's own route
        ("GET", "/no/such/route"),
    ]:
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in response.json()["detail"]["message"]
    assert client.get("/plugins/tokplug/hello", headers=BEARER).status_code == 200
    # The document and the docs pages hold no data: served without the token (Swagger
    # UI fetches the document before you authorize), but the plugins' routes are
    # listed to an authorized caller only.
    public = client.get("/openapi.json", headers=headers)
    assert public.status_code == 200
    assert "/plugins/tokplug/hello" not in public.json()["paths"]
    assert client.get("/docs", headers=headers).status_code == 200
    authorized = client.get("/openapi.json", headers=BEARER).json()
    assert "/plugins/tokplug/hello" in authorized["paths"]


def test_the_right_token_is_accepted_from_the_environment(
    serve: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAZYEXT_API_TOKEN", TOKEN)
    client = serve()
    assert client.get("/tasks").status_code == 401
    assert client.get("/tasks", headers=BEARER).json() == []
    # With a token, any Host and Origin may call: the token is the proof.
    other = {**BEARER, "Host": "api.example.org", "Origin": "https://app.example.org"}
    assert client.get("/tasks", headers=other).status_code == 200


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"Host": "evil.example"}, "DNS rebinding"),
        ({"Host": "attacker.127.0.0.1.nip.io:8000"}, "DNS rebinding"),
        ({"Origin": "https://evil.example"}, "cross-site"),
        ({"Origin": "null"}, "cross-site"),
    ],
)
def test_without_a_token_only_local_clients_are_served(
    serve: Callable[..., Any], headers: dict[str, str], says: str
) -> None:
    client = serve()
    response = client.get("/tasks", headers=headers)
    assert response.status_code == 403, response.text
    assert says in response.json()["detail"]["message"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Host": "localhost:1"}, {"Host": "[::1]"}, {"Origin": "http://localhost:3000"}],
)
def test_local_clients_need_no_token(serve: Callable[..., Any], headers: dict[str, str]) -> None:
    assert serve().get("/tasks", headers=headers).status_code == 200


def test_a_non_loopback_connection_needs_a_token() -> None:
    from lazyext.web._security import Guard, Refusal

    def scope(server: tuple[str, int], headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        return {"type": "http", "server": server, "headers": headers}

    local = [(b"host", b"127.0.0.1:8000")]
    Guard(None).check(scope(("127.0.0.1", 8000), local))
    with pytest.raises(Refusal, match=r"reachable on 10\.1\.2\.3 without an API token") as refused:
        Guard(None).check(scope(("10.1.2.3", 8000), local))
    assert refused.value.status == 403
    Guard(TOKEN).check(scope(("10.1.2.3", 8000), [(b"authorization", f"Bearer {TOKEN}".encode())]))


def test_router_in_a_host_app_checks_access_and_starts_its_managers(
    config_file: Path, tmp_path: Path, serve: Callable[..., Any]
) -> None:
    from fastapi import FastAPI

    from lazyext.plugins import PluginManager
    from lazyext.web import router

    # Recorded as enabled by an earlier process: the router's lifespan enables it.
    with PluginManager(config_file) as plugins:
        plugins.install(_zip(tmp_path), enable=True)

    host = FastAPI()

    @host.get("/ping")
    def ping() -> dict[str, str]:
        return {"pong": "host"}

    host.include_router(router(config_file, token=TOKEN), prefix="/lazyext")
    client = serve(host)
    assert client.get("/ping").json() == {"pong": "host"}  # the host's own rules
    assert client.get("/lazyext/tasks").status_code == 401
    assert client.get("/lazyext/plugins/hostplug/hello").status_code == 401
    assert client.options("/lazyext/tasks").status_code == 401  # the fallbacks check too
    assert client.get("/lazyext/tasks", headers=BEARER).json() == []
    answer = client.get("/lazyext/plugins/hostplug/hello", headers=BEARER)
    assert answer.json() == {"hello": "world", "version": "1.0"}
    disabled = client.post("/lazyext/plugins/hostplug/disable", headers=BEARER)
    assert disabled.status_code == 200
    assert client.get("/lazyext/plugins/hostplug/hello", headers=BEARER).status_code == 404


def _zip(tmp_path: Path) -> Path:
    path = tmp_path / "hostplug.zip"
    zip_bytes(path, plugin_files("hostplug"))
    return path


def test_web_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lazyext.web import web_settings

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    config = tmp_path / "lazyext.toml"
    config.write_text(
        '[web]\nhost = "0.0.0.0"\nport = 9000\ntoken-file = "token"\nmax-upload-bytes = 10\n',
        encoding="utf-8",
    )
    settings = web_settings(load(config, {}))
    assert (settings.host, settings.port, settings.max_upload_bytes) == ("0.0.0.0", 9000, 10)
    assert settings.token == TOKEN  # read relative to the config file, newline stripped
    assert TOKEN not in repr(settings)
    monkeypatch.setenv("LAZYEXT_API_TOKEN", "from-the-environment-0123")
    assert web_settings(load(config, {})).token == "from-the-environment-0123"
    explicit = web_settings(load(config, {}), {"token": "explicit-token-0123456789"})
    assert explicit.token == "explicit-token-0123456789"

    config.write_text(
        '[web]\nport = "80"\ntoken = "short"\nhots = "x"\nmax-upload-bytes = 0\n',
        encoding="utf-8",
    )
    monkeypatch.delenv("LAZYEXT_API_TOKEN")
    with pytest.raises(ConfigError) as error:
        web_settings(load(config, {}))
    problems = error.value.problems
    assert any("port: expected int" in p for p in problems)
    assert any("hots: unknown setting" in p for p in problems)
    assert any("max-upload-bytes: must be positive" in p for p in problems)
    assert any("at least 16 characters" in p for p in problems)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("lazyext.toml", f'[web]\ntoken = "{TOKEN}"\n'),
        ("pyproject.toml", f'[tool.lazyext.web]\ntoken = "{TOKEN}"\nport = 9000\n'),
    ],
)
def test_a_token_in_the_config_is_not_copied_into_the_cache(
    tmp_path: Path, cache_dir: Path, name: str, text: str
) -> None:
    from lazyext.web import web_settings

    config = tmp_path / name
    config.write_text(text, encoding="utf-8")
    first, again = load(config, {}), load(config, {})  # parsed, then from the memo
    memo = cache_dir / "compiled.marshal"
    assert memo.is_file()
    assert TOKEN.encode() not in memo.read_bytes()
    assert web_settings(first).token == TOKEN
    assert web_settings(again).token == TOKEN  # read from the file when it is needed
    config.write_text(text.replace("token = ", "token = 1 #"), encoding="utf-8")
    with pytest.raises(ConfigError, match="token: expected str"):
        web_settings(load(config, {}))


def test_public_names() -> None:
    import lazyext.web

    assert lazyext.web.__all__ == sorted(lazyext.web.__all__)
    assert all(hasattr(lazyext.web, name) for name in lazyext.web.__all__)
    assert issubclass(lazyext.web.MissingExtraError, lazyext.LazyextError)
    assert issubclass(lazyext.web.MissingExtraError, ImportError)
