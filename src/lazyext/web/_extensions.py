"""``/extensions``: the configured extensions and their installs in the cache.

The same operations as ``lazyext status``, ``lazyext warm`` and ``lazyext
invalidate``, on the server's config.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException

from lazyext import _use
from lazyext._report.status import extension_rows
from lazyext.web import _ids
from lazyext.web._errors import problem, translated
from lazyext.web._service import Service
from lazyext.web.models import (
    CacheStatus,
    ExtensionDetail,
    Invalidated,
    WarmReport,
    WarmRequest,
    WarmResult,
)

_TAGS: list[str | Any] = ["extensions"]
Name = Annotated[str, Depends(_ids.extension_name)]


def _not_found(name: str, why: str = "") -> HTTPException:
    return problem(
        404,
        "ExtensionNotFound",
        f"no configured extension named {name!r}{why}",
        "list the extensions with GET /extensions",
    )


def add_routes(api: APIRouter, service: Service) -> None:
    config = service.config

    @api.get("/extensions", tags=_TAGS, summary="Each extension's state in the cache")
    def cache_status() -> CacheStatus:
        with translated():
            return CacheStatus.model_validate(
                {
                    "source": config.source,
                    "cache_dir": str(config.settings.cache_dir),
                    "platform": config.platform,
                    "extensions": extension_rows(config),
                }
            )

    @api.get("/extensions/{name}", tags=_TAGS, summary="One extension and its arguments")
    def extension(name: Name) -> ExtensionDetail:
        """Its state in the cache (as in ``GET /extensions``) and its configured
        ``arguments``; built-in (plain) extensions included."""
        plan = config.plan_for(name)
        if plan is None or plan.name != name:
            raise _not_found(name)
        with translated():
            row = next(row for row in extension_rows(config) if row["name"] == name)
        return ExtensionDetail.model_validate({**row, "arguments": dict(plan.extension.arguments)})

    @api.post("/extensions/warm", tags=_TAGS, summary="Install extensions now, in parallel")
    def warm(body: WarmRequest) -> WarmReport:
        """A failed install is reported in its result (``ok: false``), not as an error;
        an unknown name is a 422."""
        started = time.monotonic()
        with translated():
            results = _use.warm(body.names, config, refresh=body.refresh)
        return WarmReport(
            seconds=round(time.monotonic() - started, 3),
            results={
                name: WarmResult(ok=not isinstance(result, BaseException), detail=str(result))
                for name, result in results.items()
            },
        )

    @api.post("/extensions/{name}/invalidate", tags=_TAGS, summary="Make the next use reinstall")
    def invalidate(name: Name) -> Invalidated:
        """Processes that imported the extension keep it; the next use reinstalls."""
        with translated():
            plan = config.plan_for(name)
            if plan is None or plan.extension.package is None:
                raise _not_found(name, " (built-in ones have no install)")
            return Invalidated(name=name, invalidated=_use.invalidate_plan(config, plan))
