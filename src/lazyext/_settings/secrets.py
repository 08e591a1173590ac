"""Credentials in index URLs: kept in memory, out of argv, logs, errors and the cache.

An index URL may carry credentials (``https://user:s3cret@host/simple``). lazyext
hands such URLs to uv through uv's environment (``UV_INDEX_URL``,
``UV_EXTRA_INDEX_URL``, ``UV_FIND_LINKS``), never through its argv (which ``ps``
shows to every user); it redacts them in what it logs or raises, keys the cache on
the URL without them and does not write a config that has them to the compiled memo.

String operations only: this runs on the install path, where ``urllib`` is not loaded.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from lazyext._settings.config import Settings

_MASK = "***"


def _split(url: str) -> tuple[str, str, str] | None:
    """``(scheme://, userinfo, rest)`` when ``url`` carries a userinfo part."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return None
    return scheme + sep, userinfo, host + slash + path


def has_credentials(url: str) -> bool:
    return _split(url) is not None


def strip_credentials(url: str) -> str:
    """``https://host/simple`` for ``https://user:pw@host/simple``: the cache key's form."""
    parts = _split(url)
    return url if parts is None else parts[0] + parts[2]


def redact_url(url: str) -> str:
    """``https://user:***@host/simple``: who, without the secret (a token-only userinfo,
    ``https://token@host``, is all secret)."""
    parts = _split(url)
    if parts is None:
        return url
    scheme, userinfo, rest = parts
    user, colon, _secret = userinfo.partition(":")
    shown = f"{user}:{_MASK}" if colon else _MASK
    return f"{scheme}{shown}@{rest}"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every URL's credentials masked, and every one of ``secrets``
    (URLs with credentials: their userinfo) wherever it appears."""
    for url in secrets:
        parts = _split(url)
        if parts is not None:
            user, colon, secret = parts[1].partition(":")
            if secret or not colon:
                text = text.replace(secret if colon else user, _MASK)
    if "@" not in text:
        return text
    words = text.split(" ")
    return " ".join(redact_url(word) if "://" in word and "@" in word else word for word in words)


def uv_environment(settings: Settings) -> dict[str, str]:
    """uv's variables for the URL settings that carry credentials (each such setting
    goes to uv whole through its variable, and not through argv: see :func:`in_argv`)."""
    env = {}
    if settings.index_url and has_credentials(settings.index_url):
        env["UV_INDEX_URL"] = settings.index_url
    if not in_argv(settings.extra_index_urls):
        env["UV_EXTRA_INDEX_URL"] = " ".join(settings.extra_index_urls)
    if not in_argv(settings.find_links):
        env["UV_FIND_LINKS"] = ",".join(settings.find_links)
    return env


def in_argv(urls: Iterable[str]) -> bool:
    """May these URLs go on uv's command line (none carries credentials)?"""
    return not any(has_credentials(url) for url in urls)


def secret_urls(settings: Settings) -> list[str]:
    urls = [
        settings.index_url or "",
        *settings.extra_index_urls,
        *settings.find_links,
        *settings.registry,
    ]
    return [url for url in urls if has_credentials(url)]
