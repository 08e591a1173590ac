"""The ``[web]`` table of the config, validated, and where the API token comes from.

```toml
[web]
host = "127.0.0.1"               # lazyext serve's default bind address
port = 8000
token-file = "~/.config/lazyext/api-token"   # or: token = "..."
max-upload-bytes = 33554432      # largest plugin zip accepted by POST /plugins/upload
max-body-bytes = 1048576         # largest other request body (JSON)
prefix = ""                      # serve the API under this path, e.g. "/manager"
scheduler = true                 # the server runs the task scheduler
```

The token is the ``token`` argument of ``create_app()``/``router()`` if given, else
``LAZYEXT_API_TOKEN`` if set, else ``token-file``'s first line (relative to the
config file), else ``token``. A ``token`` is read from the config file when it is
needed: the compiled form of the config kept in the cache (``compiled.marshal``) never
holds it. Still prefer the variable or a token file, kept apart from the config.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lazyext._errors import ConfigError
from lazyext._settings.checks import check_table
from lazyext._settings.config import Config

TOKEN_ENV: Final = "LAZYEXT_API_TOKEN"
#: A shorter secret can be guessed over the network.
MIN_TOKEN_LENGTH: Final = 16
_PREFIX: Final = re.compile(r"(/[A-Za-z0-9._-]{1,64}){1,8}")
_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "host": (str,),
    "port": (int,),
    "token": (str,),
    "token-file": (str,),
    "max-upload-bytes": (int,),
    "max-body-bytes": (int,),
    "prefix": (str,),
    "scheduler": (bool,),
}


@dataclass(frozen=True, slots=True)
class WebSettings:
    """How the API is served; ``token`` is ``None`` when none is configured."""

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = field(default=None, repr=False)
    max_upload_bytes: int = 32 * 1024 * 1024
    max_body_bytes: int = 1024 * 1024
    prefix: str = ""
    scheduler: bool = True


def web_settings(config: Config, overrides: Mapping[str, Any] | None = None) -> WebSettings:
    """Settings from ``config.tables["web"]`` and the environment; ``overrides`` win."""
    table = dict(config.tables.get("web", {}))
    problems: list[str] = []
    values = check_table(table, _TYPES, problems)
    token_file = values.pop("token_file", None)
    configured = values.pop("token", None)
    if "token" not in table:  # a config from the cache's memo, which leaves it out
        configured = _token_in_file(config.source, problems)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    explicit = values.pop("token", None)
    if not 0 <= int(values.get("port", 0)) <= 65535:
        problems.append(f"port: must be 0-65535, got {values['port']!r}")
    for key in ("max_upload_bytes", "max_body_bytes"):
        if int(values.get(key, 1)) <= 0:
            problems.append(f"{key.replace('_', '-')}: must be positive, got {values[key]!r}")
    if "prefix" in values:
        values["prefix"] = check_prefix(values["prefix"], problems)
    try:
        token = _token(explicit, configured, token_file, config.source)
    except ConfigError as error:
        problems.extend(error.problems)
        token = None
    if problems:
        where = f"{config.source}: [web]"
        raise ConfigError(
            f"{where}: {'; '.join(problems)}", problems=tuple(problems), source=config.source
        )
    return WebSettings(token=token, **values)


def check_prefix(prefix: str, problems: list[str]) -> str:
    """``prefix`` as routes take it: ``""``, or ``/a/b`` without a trailing slash."""
    prefix = prefix.rstrip("/")
    if prefix and (not _PREFIX.fullmatch(prefix) or "/." in prefix):
        problems.append(
            f"prefix: {prefix!r} must be a path such as '/manager' (letters, digits, "
            "'.', '_', '-' between slashes, not starting with '.')"
        )
    return prefix


def _token_in_file(source: str, problems: list[str]) -> str | None:
    """``[web] token`` as the config file says now: the compiled memo of a config in
    the cache never holds it (see :func:`lazyext._settings.load._encode`)."""
    if not source.endswith(".toml"):
        return None
    try:
        with open(source, "rb") as handle:
            table: object = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None  # it was read a moment ago: it changed meanwhile
    keys = ("tool", "lazyext", "web") if os.path.basename(source) == "pyproject.toml" else ("web",)
    for key in keys:
        table = table.get(key) if isinstance(table, dict) else None
    token = table.get("token") if isinstance(table, dict) else None
    if token is not None and not isinstance(token, str):
        problems.append(f"token: expected str, got {token!r}")
        return None
    return token


def _token(
    explicit: str | None, configured: str | None, token_file: str | None, source: str
) -> str | None:
    token, origin = explicit, "the token argument"
    if token is None:
        token, origin = os.environ.get(TOKEN_ENV) or None, TOKEN_ENV
    if token is None and token_file is not None:
        path = os.path.expanduser(token_file)
        if not os.path.isabs(path) and source.endswith(".toml"):
            path = os.path.join(os.path.dirname(source), path)
        try:
            with open(path, encoding="utf-8") as handle:
                token = handle.readline()
        except OSError as error:
            raise ConfigError(f"token-file: cannot read {path}: {error}") from error
        origin = f"token-file {path}"
    elif token is None:
        token, origin = configured, "token"
    if token is None:
        return None
    token = token.strip()
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"the API token ({origin}) must be at least {MIN_TOKEN_LENGTH} characters; make "
            "one with: python -c 'import secrets; print(secrets.token_urlsafe())'"
        )
    return token
