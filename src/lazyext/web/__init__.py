"""The web API: tasks, plugins and the extension cache over HTTP (``lazyext[web]``).

``create_app()`` returns a FastAPI application serving the API; ``router()`` returns
an ``APIRouter`` an existing FastAPI application can include. Enabled plugins that
define a ``router`` have it served under ``/plugins/<id>/``. ``lazyext serve`` runs
the application with uvicorn. ``GET /healthz`` says whether the server, its scheduler
and its plugins run; ``prefix="/manager"`` (or ``[web] prefix``) serves the API under
a path. Request bodies are bounded (``[web] max-body-bytes``), ids from URLs are
checked before use, and ``/openapi.json`` documents every answer (see the README's
"Web API" section).

This package needs the ``web`` extra (FastAPI, uvicorn, python-multipart); nothing
else in lazyext imports it. Without the extra, importing it raises
:class:`MissingExtraError`, which names the extra to install.
"""

from __future__ import annotations

from lazyext._errors import LazyextError


class MissingExtraError(LazyextError, ImportError):
    """The ``web`` extra is not installed (also an :class:`ImportError`)."""


INSTALL_HINT = "pip install 'lazyext[web]'"

try:
    import fastapi  # noqa: F401
    import python_multipart  # noqa: F401  (form uploads)
except ImportError as _error:
    raise MissingExtraError(
        f"the lazyext web API needs the 'web' extra ({_error.name or 'fastapi'} is missing): "
        f"{INSTALL_HINT}",
        name=_error.name,
    ) from _error

from lazyext.web._app import create_app, router  # noqa: E402
from lazyext.web._service import Service  # noqa: E402
from lazyext.web._settings import WebSettings, web_settings  # noqa: E402

__all__ = [
    "INSTALL_HINT",
    "MissingExtraError",
    "Service",
    "WebSettings",
    "create_app",
    "router",
    "web_settings",
]
