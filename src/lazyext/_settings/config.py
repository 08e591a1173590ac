"""Parsed configuration: the frozen records that travel between the stages.

Only plain data lives here, so that this module stays cheap to import; parsing and
validation (which need ``tomllib`` and ``packaging``) live in :mod:`.parse` and run
only when the compiled form in the cache does not match (:mod:`.load`).
"""

from __future__ import annotations

import os
import sys

from lazyext._record import EMPTY, fields_of, record
from lazyext._settings.names import DistName, EnvKey, ReqKey

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from types import ModuleType
    from typing import Any, Final

#: Bumped whenever the compiled form or the key recipe changes.
SCHEMA: Final = 2


@record
class Extension:
    """One configured extension.

    ``package`` is a PEP 508 requirement (``None`` for a built-in extension that needs
    no install); ``modules`` are the top-level import names that trigger it (default:
    ``(name,)``); ``arguments`` is free-form data handed to plugins; ``hashes`` pins
    the distribution files (``sha256:<hex>``) and switches uv to hash-checking mode.
    """

    name: str
    package: str | None = None
    # Any sequence of strings (or one string) is accepted; a tuple is kept.
    modules: Sequence[str] = ()
    enabled: bool = True
    arguments: Mapping[str, Any] = EMPTY
    hashes: Sequence[str] = ()

    def __post_init__(self) -> None:
        # Accept lists from callers, keep tuples inside: the record must stay hashable
        # in spirit and compare equal however it was spelled.
        # A lone string is one name, not a sequence of one-letter names.
        given, hashes = self.modules, self.hashes
        modules = (given,) if isinstance(given, str) else tuple(given) if given else (self.name,)
        object.__setattr__(self, "modules", modules)
        object.__setattr__(self, "hashes", (hashes,) if isinstance(hashes, str) else tuple(hashes))

    def load(self) -> ModuleType:
        """Import the extension's module, installing it if needed; return it."""
        return _load(self)


@record
class Settings:
    """Process-wide settings; every field has a config key of the same name (dashed)."""

    cache_dir: str  # absolute and real (symlinks resolved)
    ttl_hours: float = 24.0
    offline: bool = False
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    allow_sdist: bool = False
    allow_direct_urls: bool = False
    strict_pth: bool = False
    install_timeout: float = 300.0
    lock_timeout: float = 600.0
    retries: int = 2
    failure_ttl: float = 30.0
    parallel: int = 4
    lock: str | None = None  # a pylock.toml that pins the environment (absolute path)
    expired: str = "refresh-in-background"  # or "reinstall" (block) or "serve" (never)
    cache_read: tuple[str, ...] = ()  # read-only layers searched first (_store.layers)
    trust_group: bool = False  # layers may be group-writable (a Kubernetes fsGroup)
    link_mode: str | None = None  # None: uv's default; else one of LINK_MODES (.checks)
    registry: tuple[str, ...] = ()  # registry files: absolute paths or URLs (_registry)


#: Setting names in config files, dashed as users write them.
SETTING_KEYS: Final = tuple(name.replace("_", "-") for name in fields_of(Settings))


@record
class Plan:
    """An extension with its requirement parsed, canonicalized and keyed."""

    extension: Extension
    requirement: str  # canonical PEP 508 text: normalized name, sorted extras/specifiers
    dist: DistName  # "" for a built-in extension (no package)
    specifier: str  # canonical specifier, "" when any version will do
    key: ReqKey  # the requirement with the install settings; "" for a built-in one
    marker_ok: bool = True  # False: the marker excludes this interpreter/platform

    @property
    def name(self) -> str:
        return self.extension.name


@record
class Config:
    """A loaded configuration: settings, keyed extensions and where they came from."""

    settings: Settings
    plans: tuple[Plan, ...]
    platform: str  # wheel tag of this interpreter: the cache's per-platform directory
    source: str = "<defaults>"
    tables: Mapping[str, Mapping[str, Any]] = EMPTY
    env_key: EnvKey = EnvKey("")  # the key of its environment (lazyext._env)

    def plan_for(self, name_or_requirement: str) -> Plan | None:
        for plan in self.plans:
            if name_or_requirement in (plan.name, plan.extension.package, plan.requirement):
                return plan
        return None


def _load(extension: Extension) -> ModuleType:
    """Import ``extension``'s first module (installing it on a cache miss), return it.

    Raises :class:`lazyext.ConfigError` for a disabled extension, and what the import
    raises otherwise (:class:`lazyext.InstallError` if installing failed; a
    ``ModuleNotFoundError`` with a note saying what to do if nothing serves it)."""
    if not extension.enabled:
        # The errors module (~0.4 ms) loads when an error does: B1 never meets one.
        from lazyext._errors import ConfigError

        raise ConfigError(
            f"extension {extension.name!r} is disabled (enabled = false); enable it in the "
            "config to load it"
        )
    # `import lazyext` alone does not import importlib (+ warnings: ~1 ms); activate does.
    import importlib

    module = extension.modules[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != module:
            raise
        if extension.package is None:
            error.add_note(
                f"lazyext: {extension.name!r} is a built-in extension (no package): the host "
                f"environment must provide the module {module!r}"
            )
        else:
            error.add_note(
                f"lazyext: importing {module!r} installs {extension.package} only while a "
                f"config that declares {extension.name!r} is active (lazyext.activate(...); "
                "lazyext.extensions() activates the discovered config)"
            )
        raise


def check_names(config: Config, names: Iterable[str]) -> None:
    """Refuse names that are not extensions of ``config`` (a typo: exit 2 in the CLI)."""
    unknown = sorted(set(names) - {plan.name for plan in config.plans})
    if unknown:
        from lazyext._errors import ConfigError  # where raised: off the warm path

        raise ConfigError(f"no configured extension named {', '.join(map(repr, unknown))}")


def default_cache_root() -> str:
    """``platformdirs.user_cache_path("lazyext")`` without importing platformdirs.

    platformdirs costs ~16 ms to import, more than lazyext's whole warm path; its
    answer on Linux and macOS is a two-line rule, so that is computed here (a test
    checks that both agree) and platformdirs is used on other platforms only.
    """
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~"), "Library", "Caches", "lazyext")
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        base = (
            xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
        )
        return os.path.join(base, "lazyext")
    import platformdirs

    return str(platformdirs.user_cache_path("lazyext", appauthor=False))


def default_data_root() -> str:
    """Where plugin and task state lives (``LAZYEXT_DATA_DIR`` overrides), and the key
    of the compiled configs (:mod:`lazyext._settings.load`): platformdirs'
    ``user_data_path("lazyext")``, computed here on Linux and macOS as the cache root is."""
    override = os.environ.get("LAZYEXT_DATA_DIR")
    if override:
        return os.path.abspath(os.path.expanduser(override))
    if sys.platform == "darwin":
        home = os.path.expanduser("~")
        return os.path.join(home, "Library", "Application Support", "lazyext")
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        xdg = os.environ.get("XDG_DATA_HOME", "").strip()
        base = (
            xdg
            if xdg and os.path.isabs(xdg)
            else os.path.join(os.path.expanduser("~"), ".local", "share")
        )
        return os.path.join(base, "lazyext")
    import platformdirs

    return str(platformdirs.user_data_path("lazyext", appauthor=False))


def env_flag(name: str) -> bool | None:
    """``1/true/yes/on`` -> True, ``0/false/no/off`` -> False, unset or empty -> None."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return None
    return value in {"1", "true", "yes", "on"}
