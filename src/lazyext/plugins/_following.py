"""Following the shared state and the plugins' files: ``sync`` and hot reload.

Every process runs what the state database says: a plugin disabled or uninstalled
elsewhere is unloaded here, one upgraded, restored or reloaded elsewhere (a new
``revision``) is reloaded here, and (with ``auto-enable``) one enabled elsewhere is
enabled here. A plugin that failed here at a revision is not retried until the next
change, so a broken plugin does not fail on every poll.
"""

from __future__ import annotations

import logging

from lazyext.plugins._context import Context
from lazyext.plugins._errors import PluginEnableError, PluginError, PluginNotFound, RestartRequired
from lazyext.plugins._store import ENABLED, FAILED, PluginInfo

logger = logging.getLogger("lazyext.plugins")


def sync(ctx: Context, *, load: bool) -> dict[str, PluginError]:
    """Follow the shared state (see the module docstring); the errors by plugin id."""
    errors: dict[str, PluginError] = {}
    with ctx.changing():
        rows = {info.id: info for info in ctx.store.all()}
        running = ctx.running
        for plugin_id in [i for i in running.loaded if i not in rows or not rows[i].enabled]:
            running.unload(plugin_id)
            if plugin_id not in rows:
                running.finder.disown(plugin_id)
        for info in rows.values():
            try:
                _follow(ctx, info, load)
            except PluginError as error:
                errors[info.id] = error
    return errors


def _follow(ctx: Context, info: PluginInfo, load: bool) -> None:
    running = ctx.running
    loaded = running.loaded.get(info.id)
    if running.failed.get(info.id) == info.revision:
        return  # failed here at this revision: wait for the next change
    if loaded is not None:
        if loaded.info.revision == info.revision and loaded.info.path == info.path:
            return
        try:
            with ctx.plugin_lock(info.id):
                ctx.swap_recording(info.id, ctx.store.require(info.id))
        except PluginError:
            running.failed[info.id] = info.revision
            raise
        return
    if not (load and info.enabled):
        running.own_disabled(info)
        return
    try:
        with ctx.plugin_lock(info.id):
            running.load(info)
    except PluginEnableError as error:
        running.failed[info.id] = info.revision
        ctx.record(info.id, status=FAILED, last_error=error.error)
        raise


def hot_reload(ctx: Context, plugin_id: str) -> tuple[bool, PluginError | None]:
    """Reload a plugin whose files changed: ``(tried, error)``; ``tried`` is false when
    it does not run here (any more).

    A version that fails to import or enable is recorded as ``last_error`` while the
    previous version keeps running.
    """
    with ctx.changing():
        loaded = ctx.running.loaded.get(plugin_id)
        if loaded is None:
            return False, None
        try:
            with ctx.plugin_lock(plugin_id):
                ctx.swap_recording(plugin_id, loaded.info)
        except RestartRequired as error:
            ctx.record(plugin_id, last_error=f"hot reload skipped: {error}")
            return True, error
        except PluginNotFound:
            return False, None
        except PluginError as error:
            logger.warning("plugin %s: hot reload failed: %s", plugin_id, error)
            return True, error
        ctx.record(plugin_id, status=ENABLED, last_error=None)
        logger.info("plugin %s: reloaded after a change of its files", plugin_id)
        return True, None
