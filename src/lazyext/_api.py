"""The public functions of the warm path: activate, deactivate, extension, extensions.

``import lazyext; lazyext.activate()`` runs this module and the stages below it that
every process needs (settings, importer). The functions that install (``ensure``,
``invalidate``, ``warm``) are in :mod:`lazyext._use`, loaded on first use.
"""

from __future__ import annotations

import _thread
import os

from lazyext._importer.runtime import Runtime
from lazyext._settings.config import Config, Extension
from lazyext._settings.load import load, not_found_message

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from typing import Any

    from lazyext._settings.load import ConfigSource
    from lazyext._settings.names import DistKey, ReqKey

_lock = _thread.RLock()
_runtime: Runtime | None = None


def _after_fork_in_child() -> None:
    # A lock held by another thread at the fork would never be released in the child.
    global _lock
    _lock = _thread.RLock()
    if _runtime is not None:
        _runtime.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def overrides(
    cache_dir: str | os.PathLike[str] | None,
    offline: bool | None,
    index_url: str | None,
    find_links: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
    no_index: bool | None,
    ttl_hours: float | None,
    lock: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    if isinstance(find_links, (str, os.PathLike)):
        find_links = [find_links]
    links = [os.fspath(link) for link in find_links] if find_links is not None else None
    return {
        "cache_dir": os.fspath(cache_dir) if cache_dir is not None else None,
        "offline": offline,
        "index_url": index_url,
        "find_links": links,
        "no_index": no_index,
        "ttl_hours": ttl_hours,
        "lock": os.fspath(lock) if lock is not None else None,
    }


def activate(
    config: ConfigSource = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    offline: bool | None = None,
    index_url: str | None = None,
    find_links: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    no_index: bool | None = None,
    ttl_hours: float | None = None,
    lock: str | os.PathLike[str] | None = None,
) -> Config:
    """Install lazyext's import hook for ``config``; idempotent.

    ``config`` is ``None`` (``$LAZYEXT_CONFIG``, else the first ``lazyext.toml`` or
    ``pyproject.toml`` with ``[tool.lazyext]`` from the working directory up, then from
    the main script's directory up, stopping at a ``.git``; none found: the defaults,
    and a warning naming where it looked), a path to a TOML file, a mapping of
    top-level import name to requirement, or a sequence of :class:`Extension`. Keyword
    options override the file and the environment. Raises :class:`ConfigError` for
    any invalid input, before anything is installed. Returns the loaded config.

    ``lock`` names a ``pylock.toml`` (``lazyext lock`` writes one): every process then
    installs exactly its versions and hashes.
    """
    try:
        return _activate(
            config, overrides(cache_dir, offline, index_url, find_links, no_index, ttl_hours, lock)
        )
    except Exception as error:  # the user's call and the cause, not lazyext's frames
        # Here, not at module level: the warm path never loads the error classes.
        from lazyext._errors import LazyextError, without_internal_frames

        if isinstance(error, LazyextError):
            raise without_internal_frames(error)  # noqa: B904 (its cause stays chained)
        raise


def _activate(config: ConfigSource, options: dict[str, Any]) -> Config:
    global _runtime
    loaded = load(config, options)
    if config is None and loaded.source == "<defaults>":
        from lazyext import _log  # only without a config: logging (~5 ms)

        _log.warning("%s", not_found_message())
    with _lock:
        if _runtime is None:
            _runtime = Runtime(loaded)
        elif _runtime.config != loaded:
            _runtime.configure(loaded)
        _runtime.install_finders()
    return loaded


def deactivate() -> None:
    """Remove the import hook and every ``sys.path`` entry lazyext added.

    Modules already imported stay imported.
    """
    global _runtime
    with _lock:
        runtime, _runtime = _runtime, None
    if runtime is not None:
        runtime.uninstall()


def active_config() -> Config | None:
    runtime = _runtime
    return runtime.config if runtime is not None else None


def runtime_for_use() -> Runtime:
    """The active runtime, created with the discovered config if lazyext is not active."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = Runtime(load(None, {}))
            _runtime.install_finders()
        return _runtime


def config_for(options: Mapping[str, Any]) -> Config:
    """The active config, or one loaded with ``options`` over the active file's."""
    active = active_config()
    if not any(value is not None for value in options.values()):
        return active or load(None, {})
    source = active.source if active is not None and active.source.endswith(".toml") else None
    return load(source, options)


def extension(name: str, config: Config | None = None) -> Extension:
    """The configured extension ``name`` (of the active config, else the discovered
    one): its ``package``, ``modules``, ``enabled`` and free-form ``arguments``."""
    config = config or config_for({})
    plan = config.plan_for(name)
    if plan is None:
        known = ", ".join(sorted(plan.name for plan in config.plans)) or "none"
        from lazyext._errors import ConfigError  # where raised: off the warm path

        raise ConfigError(f"no configured extension named {name!r} in {config.source} ({known})")
    return plan.extension


def forget(plan_key: ReqKey, dist_keys: Iterable[DistKey]) -> None:
    """The active runtime stops serving an extension and its closure (invalidated): the
    next import activates fresh entries."""
    with _lock:
        if _runtime is not None:
            _runtime.forget(plan_key, dist_keys)


def extensions() -> Iterator[Extension]:
    """The enabled extensions of the active config, in config order, built-in and
    external alike: the seed's processor registration (``xtnsmgr`` step 4) is
    ``for ext in lazyext.extensions(): register(ext.name, ext.load(), ext.arguments)``.


    If lazyext is not active, the discovered config (``$LAZYEXT_CONFIG``,
    ``lazyext.toml``, ``[tool.lazyext]``) is activated first, as :func:`lazyext.ensure`
    does, so that each one's ``load()`` can install it."""
    config = active_config() or runtime_for_use().config
    enabled = tuple(plan.extension for plan in config.plans if plan.extension.enabled)
    return iter(enabled)
