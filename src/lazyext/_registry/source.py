"""Reading registries: a local file, or an https URL cached with its ETag.

What is read from outside passes the same limits as lazyext's other inputs:

* a local registry is a regular file of at most :data:`MAX_BYTES`, owned by you or
  root and writable by nobody else, in a directory that passes the trust rule
  (:mod:`lazyext._trust`): whoever can change it chooses what ``lazyext add`` installs;
* a URL is ``https://`` (plain ``http://`` only on this machine), a redirect may not
  leave https and does not carry credentials to another host, and the answer is at
  most :data:`MAX_BYTES`;
* a registry is checked whole before anything uses it or it replaces the cached copy.

A URL's copy is kept in the cache (``registries/<key>/registry.json``, 0600, with its
ETag): the next read sends ``If-None-Match`` and a 304 costs no download; offline
(``offline = true``) or when the registry is unreachable, the cached copy answers (with
a warning naming its age when the network failed).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any, Final

from lazyext import _log, _trust
from lazyext._errors import ConfigError, LazyextError
from lazyext._registry import catalog
from lazyext._registry.catalog import Entry
from lazyext._settings.checks import LOOPBACK_HOSTS
from lazyext._settings.config import Settings
from lazyext._settings.secrets import redact_url, strip_credentials
from lazyext._store.entries import private_dir
from lazyext._version import __version__

MAX_BYTES: Final = 4 * 1024 * 1024
_CACHE_FILE: Final = "registry.json"
_TIMEOUT: Final = 30.0  # seconds, as uv's default HTTP timeout


class RegistryError(LazyextError, OSError):
    """A registry could not be read: unreachable (and not cached), too large, or a
    redirect lazyext does not follow. ``location`` names it, without credentials."""

    def __init__(self, message: str, *, location: str = "", transient: bool = False) -> None:
        super().__init__(message)
        self.location = location
        self.transient = transient  # the network: the cached copy may answer instead

    def __reduce__(self) -> tuple[Any, ...]:
        state = {"location": self.location, "transient": self.transient}
        return (type(self), (self.args[0],), state)


def load(locations: Sequence[str], settings: Settings) -> tuple[Entry, ...]:
    """The entries of every registry in ``locations``, the first winning a name."""
    return catalog.merged([read(location, settings) for location in locations])


def read(location: str, settings: Settings) -> tuple[Entry, ...]:
    """The entries of one registry (a path or a URL)."""
    if "://" in location:
        return _remote(location, settings)
    path = os.path.abspath(os.path.expanduser(location))
    return _parse(_local(path), path)


def _parse(data: bytes, shown: str) -> tuple[Entry, ...]:
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(f"registry {shown}: not UTF-8 text ({error})", source=shown) from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"registry {shown}: not valid TOML: {error}", source=shown) from error
    return catalog.parse(document, shown)


# -- a local file -----------------------------------------------------------------------


def _local(path: str) -> bytes:
    real = os.path.realpath(path)
    try:
        _trust.check_dir(os.path.dirname(real), what="registry's directory", root_owned_ok=True)
        descriptor = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as error:
        raise ConfigError(
            f"registry {path}: no such file; fix the `registry` setting", source=path
        ) from error
    except OSError as error:  # UnsafeCacheError is one: it says which rule failed
        if isinstance(error, LazyextError):
            raise
        raise RegistryError(
            f"registry {path}: cannot read it ({error.strerror or error})", location=path
        ) from error
    with os.fdopen(descriptor, "rb") as handle:
        _check_file(path, os.fstat(handle.fileno()))
        return handle.read(MAX_BYTES + 1)


def _check_file(path: str, info: os.stat_result) -> None:
    problem = ""
    if not stat.S_ISREG(info.st_mode):
        problem = "it is not a regular file"
    elif info.st_size > MAX_BYTES:
        problem = f"it is {info.st_size} bytes; a registry is at most {MAX_BYTES}"
    elif hasattr(os, "geteuid") and info.st_uid not in (os.geteuid(), 0):
        problem = (
            f"it is owned by uid {info.st_uid}, neither you (uid {os.geteuid()}) nor root, "
            "so its owner would choose what `lazyext add` installs"
        )
    elif hasattr(os, "geteuid") and info.st_mode & 0o022:
        problem = (
            f"it is writable by group or others (mode {stat.S_IMODE(info.st_mode):o}); "
            f"run: chmod go-w {path}"
        )
    if problem:
        raise RegistryError(f"refusing the registry {path}: {problem}", location=path)


# -- a URL ------------------------------------------------------------------------------


def _remote(url: str, settings: Settings) -> tuple[Entry, ...]:
    shown = redact_url(url)
    root = _trust.ensure_root(settings.cache_dir)
    digest = hashlib.sha256(strip_credentials(url).encode()).hexdigest()[:32]
    cache_file = os.path.join(private_dir(root, "registries", digest), _CACHE_FILE)
    cached = _read_cached(cache_file)
    if settings.offline:
        if cached is None:
            raise RegistryError(
                f"registry {shown}: offline, and it was never fetched on this machine; go "
                "online once (offline = false) to cache it",
                location=strip_credentials(url),
            )
        return _parse(cached["text"].encode(), shown)
    try:
        data, etag = _get(url, cached["etag"] if cached else None)
    except RegistryError as error:
        if cached is None or not error.transient:
            raise
        fetched = time.strftime("%Y-%m-%d %H:%M", time.localtime(cached["fetched_at"]))
        _log.warning("%s; using its copy cached at %s", error, fetched)
        return _parse(cached["text"].encode(), shown)
    if data is None and cached is not None:  # 304: the cached copy is current
        return _parse(cached["text"].encode(), shown)
    entries = _parse(data or b"", shown)  # checked whole before it replaces the copy
    _store(cache_file, strip_credentials(url), data or b"", etag)
    return entries


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to https (or loopback http), without credentials when the
    host changes."""

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        if not _safe_scheme(newurl):
            fp.close()
            raise RegistryError(
                f"registry {redact_url(req.full_url)} redirects to {redact_url(newurl)}, "
                "which is not https; refusing it",
                location=strip_credentials(req.full_url),
            )
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _host(newurl) != _host(req.full_url):
            new.remove_header("Authorization")
        return new


def _get(url: str, etag: str | None) -> tuple[bytes | None, str | None]:
    """The registry's bytes and ETag, or ``(None, etag)`` when it has not changed."""
    shown = redact_url(url)
    request = urllib.request.Request(
        strip_credentials(url), headers={"User-Agent": f"lazyext/{__version__}"}
    )
    userinfo = url.partition("://")[2].partition("/")[0].rpartition("@")[0]
    if userinfo:  # https://user:token@host/...: HTTP basic authentication
        token = base64.b64encode(urllib.parse.unquote(userinfo).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    if etag:
        request.add_header("If-None-Match", etag)
    opener = urllib.request.build_opener(_Redirects)
    try:
        with opener.open(request, timeout=_TIMEOUT) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > MAX_BYTES:
                raise _too_large(shown, url)
            data: bytes = response.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                raise _too_large(shown, url)
            return data, response.headers.get("ETag")
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 304:
            return None, etag
        raise RegistryError(
            f"registry {shown} answered HTTP {error.code} ({error.reason})",
            location=strip_credentials(url),
            transient=True,
        ) from error
    except (urllib.error.URLError, OSError) as error:
        if isinstance(error, LazyextError):
            raise
        reason = getattr(error, "reason", None) or error
        raise RegistryError(
            f"registry {shown} is unreachable ({reason}); check the URL and the network, "
            "or set offline = true to use the cached copy",
            location=strip_credentials(url),
            transient=True,
        ) from error


def _too_large(shown: str, url: str) -> RegistryError:
    return RegistryError(
        f"registry {shown} is larger than {MAX_BYTES} bytes; refusing it",
        location=strip_credentials(url),
    )


def _host(url: str) -> str:
    return strip_credentials(url).partition("://")[2].partition("/")[0].lower()


def _safe_scheme(url: str) -> bool:
    scheme = url.partition("://")[0].lower()
    host = _host(url)
    loopback = host.partition("]")[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
    return scheme == "https" or (scheme == "http" and loopback in LOOPBACK_HOSTS)


def _read_cached(path: str) -> dict[str, Any] | None:
    """The cached copy, if it is this user's private file and well formed."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        mine = not hasattr(os, "geteuid") or info.st_uid == os.geteuid()
        if not stat.S_ISREG(info.st_mode) or not mine or info.st_mode & 0o022:
            return None
        raw = handle.read(4 * MAX_BYTES)
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    valid = (
        isinstance(data, dict)
        and isinstance(data.get("text"), str)
        and isinstance(data.get("etag"), (str, type(None)))
        and isinstance(data.get("fetched_at"), (int, float))
    )
    return data if valid else None


def _store(path: str, url: str, data: bytes, etag: str | None) -> None:
    """Best effort: a copy that cannot be written costs the next read a download."""
    record = {"url": url, "etag": etag, "fetched_at": time.time(), "text": data.decode()}
    temporary = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        with open(os.open(temporary, flags, 0o600), "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.replace(temporary, path)
    except OSError as error:
        _log.info("could not cache the registry %s: %s", url, error)
        if os.path.lexists(temporary):
            os.unlink(temporary)
