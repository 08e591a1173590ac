"""``GET /healthz``: the server answers, and what its scheduler and plugins do.

Access as for every route: local clients without a token, the token when one is
configured. Cheap: one read of the plugin table, no install, no import.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from lazyext._version import __version__
from lazyext.plugins import PluginError
from lazyext.web._errors import translated
from lazyext.web._service import Service
from lazyext.web.models import Health

_TAGS: list[str | Any] = ["health"]


def _running(service: Service, plugin_id: str) -> bool:
    try:
        service.plugins.get(plugin_id)  # lock-free: never waits for an install
    except PluginError:
        return False
    return True


def add_routes(api: APIRouter, service: Service) -> None:
    @api.get("/healthz", tags=_TAGS, summary="Liveness, and the scheduler's and plugins' state")
    def healthz() -> Health:
        with translated():
            plugins = service.plugins.list()
            loaded = sum(1 for info in plugins if _running(service, info.id))
        return Health.model_validate(
            {
                "status": "ok",
                "version": __version__,
                "scheduler": {
                    "configured": service.settings.scheduler,
                    "running": service.tasks.running,
                },
                "plugins": {
                    "installed": len(plugins),
                    "enabled": sum(1 for info in plugins if info.enabled),
                    "loaded": loaded,
                    "failed": sum(1 for info in plugins if info.status == "failed"),
                },
            }
        )
