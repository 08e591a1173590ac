"""``lazyext schema``: the JSON Schema of ``lazyext.toml``, for editors.

Generated from the table the configuration reference is generated from
(:mod:`lazyext._settings.reference`), so the two cannot disagree. Save it and point
the editor's TOML support at it (Taplo / Even Better TOML: a first line
``#:schema ./lazyext.schema.json``)::

    lazyext schema > lazyext.schema.json
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from lazyext._settings.reference import json_schema
from lazyext.cli.output import EXIT_OK, print_json


def register(sub: Any) -> None:
    parser = sub.add_parser("schema", help="print the JSON Schema of lazyext.toml (for editors)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=cmd_schema)


def cmd_schema(args: argparse.Namespace) -> int:
    schema = json_schema()
    if args.json:  # the command line's document, the schema inside it
        print_json({"schema": schema})
    else:
        print(json.dumps(schema, indent=2))
    return EXIT_OK
