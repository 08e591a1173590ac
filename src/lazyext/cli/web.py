"""``lazyext serve``: the web API with uvicorn (the ``web`` extra).

Registering the command imports nothing of the extra: FastAPI and uvicorn are
imported when the command runs, and their absence is a usage error (exit 2) that
names the extra to install.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lazyext._errors import LazyextError
from lazyext.cli.output import EXIT_OK, EXIT_USAGE, load_config

_HINT = "pip install 'lazyext[web]'"


def register(sub: Any) -> None:
    serve = sub.add_parser(
        "serve", help=f"serve the web API (tasks, plugins, cache) with uvicorn ({_HINT})"
    )
    serve.add_argument(
        "--host",
        default=None,
        help="bind address (default: [web] host, 127.0.0.1); any other than a loopback "
        "address needs an API token (LAZYEXT_API_TOKEN or [web] token)",
    )
    serve.add_argument(
        "--port", type=int, default=None, help="port (default: [web] port, 8000; 0: any free)"
    )
    serve.add_argument(
        "--no-scheduler", action="store_true", help="do not run the task scheduler in the server"
    )
    serve.set_defaults(handler=cmd_serve)


def _missing(what: str) -> int:
    print(
        f"lazyext serve: {what} is not installed; install the web extra: {_HINT}", file=sys.stderr
    )
    return EXIT_USAGE


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from lazyext import web
    except ImportError as error:
        if not isinstance(error, LazyextError):  # a broken install, not a missing extra
            raise
        return _missing(error.name or "FastAPI")
    try:
        import uvicorn
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "uvicorn":
            raise
        return _missing("uvicorn")
    from lazyext.web._security import is_loopback

    config = load_config(args)
    settings = web.web_settings(config, {"host": args.host, "port": args.port})
    if not is_loopback(settings.host) and settings.token is None:
        print(
            f"lazyext serve: binding to {settings.host} makes the API reachable from other "
            "hosts: set an API token first (LAZYEXT_API_TOKEN, or token-file/token in the "
            "[web] table), or bind to 127.0.0.1",
            file=sys.stderr,
        )
        return EXIT_USAGE
    app = web.create_app(config, scheduler=False if args.no_scheduler else None)
    access = "token required" if settings.token else "local clients only"
    print(
        f"lazyext serve: {settings.host}:{settings.port} ({access}); OpenAPI at /openapi.json; "
        "Ctrl-C stops",
        file=sys.stderr,
    )
    sys.stderr.flush()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return EXIT_OK
