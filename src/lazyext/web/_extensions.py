"""``/extensions``: the configured extensions and their installs in the cache.

The same operations as ``lazyext status``, ``lazyext warm`` and ``lazyext
invalidate``, on the server's config.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from lazyext.web._errors import problem, translated
from lazyext.web.models import CacheStatus, Invalidated, WarmReport, WarmRequest, WarmResult

if TYPE_CHECKING:
    from lazyext.web._app import Service

_TAGS: list[str | Any] = ["extensions"]


def add_routes(api: APIRouter, service: Service) -> None:
    config = service.config

    @api.get("/extensions", tags=_TAGS, summary="Each extension's state in the cache")
    def cache_status() -> CacheStatus:
        from lazyext.cli import status_rows

        with translated():
            return CacheStatus.model_validate(
                {
                    "source": config.source,
                    "cache_dir": str(config.settings.cache_dir),
                    "platform": config.platform,
                    "extensions": status_rows(config),
                }
            )

    @api.post("/extensions/warm", tags=_TAGS, summary="Install extensions now, in parallel")
    def warm(body: WarmRequest) -> WarmReport:
        """A failed install is reported in its result (``ok: false``), not as an error;
        an unknown name is a 422."""
        from lazyext._api import warm

        started = time.monotonic()
        with translated():
            results = warm(body.names, config, refresh=body.refresh)
        return WarmReport(
            seconds=round(time.monotonic() - started, 3),
            results={
                name: WarmResult(ok=not isinstance(result, BaseException), detail=str(result))
                for name, result in results.items()
            },
        )

    @api.post("/extensions/{name}/invalidate", tags=_TAGS, summary="Make the next use reinstall")
    def invalidate(name: str) -> Invalidated:
        """Processes that imported the extension keep it; the next use reinstalls."""
        from lazyext import _cache
        from lazyext._guards import forget_failures

        with translated():
            plan = config.plan_for(name)
            if plan is None or plan.extension.package is None:
                raise problem(
                    404,
                    "ExtensionNotFound",
                    f"no configured extension named {name!r} (built-in ones have no install)",
                    "list the extensions with GET /extensions",
                )
            from lazyext._api import closure_keys

            root = _cache.ensure_root(config.settings.cache_dir)
            forget_failures()
            keys = closure_keys(config, plan)
            return Invalidated(
                name=name, invalidated=sum(_cache.invalidate_key(root, key) for key in keys)
            )
