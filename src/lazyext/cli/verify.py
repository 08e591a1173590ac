"""``lazyext verify``: check cached installs against their wheels' RECORD files."""

from __future__ import annotations

import argparse
from typing import Any

from lazyext import _trust
from lazyext._errors import ConfigError
from lazyext._report import shapes
from lazyext._report.status import closure_entries, main_entry, stored_environment
from lazyext._store.verify import linked_damage, quarantine, refusal, verify
from lazyext._uv.install import clean_cache
from lazyext.cli.output import EXIT_FAILURE, EXIT_OK, load_config, print_json


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "verify", help="check cached installs file by file against their wheels' RECORD"
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="extensions (default: all)")
    parser.add_argument(
        "--repair",
        action="store_true",
        help="invalidate damaged installs: the next use reinstalls them",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    config = load_config(args)
    root = _trust.ensure_root(config.settings.cache_dir)
    env = stored_environment(config)
    plans = [p for p in config.plans if p.extension.package is not None and p.marker_ok]
    unknown = sorted(set(args.names) - {plan.name for plan in plans})
    if unknown:
        raise ConfigError(f"no configured extension named {', '.join(map(repr, unknown))}")
    results: dict[str, dict[str, Any]] = {}
    for plan in plans:
        if args.names and plan.name not in args.names:
            continue
        if not plan.extension.enabled:  # not in the environment: nothing of it to check
            results[plan.name] = {"state": "disabled", "path": "", "problems": [], "ok": True}
            continue
        entries = closure_entries(config, plan, env)
        if entries is None:  # never published, perhaps refused (lazyext._store.verify.refusal)
            closure = env.closure_of(plan.key) if env is not None else None
            refused = [p for d in closure or () if d.key for p in refusal(root, d.key)]
            state = "refused" if refused else "missing"
            results[plan.name] = {
                "state": state,
                "path": "",
                "problems": refused,
                "ok": not refused,
            }
            continue
        problems = []
        for entry in entries:  # every distribution of the closure
            damage = verify(entry)
            if damage and args.repair:
                linked = linked_damage(entry)
                if linked:  # hard-linked from uv's cache, damaged there too: unpack afresh
                    clean_cache(linked, config.settings)
                    damage.append(f"removed from uv's cache: {', '.join(linked)}")
                quarantine(entry)
            problems += damage
        state = "ok" if not problems else "repaired" if args.repair else "damaged"
        main = main_entry(config, plan, env)
        path = main.path if main is not None else entries[0].path if entries else ""
        # Repaired: the damaged installs are out of use, the next use reinstalls them.
        ok = state != "damaged"
        results[plan.name] = {"state": state, "path": path, "problems": problems, "ok": ok}
    failed = [name for name, result in results.items() if not result["ok"]]
    if args.json:
        rows = [
            shapes.extension(
                name,
                ok=result["ok"],
                state=result["state"],
                path=str(result["path"]),
                problems=list(result["problems"]),
            )
            for name, result in results.items()
        ]
        report = shapes.report("verify", config, rows)
        if failed:
            report["error"] = shapes.rows_error(rows, "damaged or refused")
        print_json(report)
    else:
        for name, result in results.items():
            print(f"{result['state']:8} {name} {result['path']}".rstrip())
            for problem in result["problems"]:
                print(f"         {problem}")
        if failed and not args.repair:
            print("run `lazyext verify --repair` to reinstall the damaged installs on next use")
    return EXIT_FAILURE if failed else EXIT_OK
