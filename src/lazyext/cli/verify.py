"""``lazyext verify``: check cached installs against their wheels' RECORD files."""

from __future__ import annotations

import argparse
from typing import Any

from lazyext import _trust
from lazyext._env.stored import Environment
from lazyext._errors import ConfigError, UnsafeCacheError
from lazyext._report import shapes
from lazyext._report.status import closure_entries, main_entry, stored_environment
from lazyext._settings.config import Config, Plan
from lazyext._store.layers import layer_of
from lazyext._store.verify import linked_damage, quarantine, refusal, verify_entry
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
    results = {
        plan.name: _verify_plan(plan, config, env, root, repair=args.repair)
        for plan in plans
        if not args.names or plan.name in args.names
    }
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
        if not args.repair and any(r["state"] == "damaged" for r in results.values()):
            print("run `lazyext verify --repair` to reinstall the damaged installs on next use")
    return EXIT_FAILURE if failed else EXIT_OK


def _verify_plan(
    plan: Plan, config: Config, env: Environment | None, root: str, *, repair: bool
) -> dict[str, Any]:
    """One extension's result: ``state``, ``path``, ``problems``, ``ok``."""
    if not plan.extension.enabled:  # not in the environment: nothing of it to check
        return {"state": "disabled", "path": "", "problems": [], "ok": True}
    try:
        entries = closure_entries(config, plan, env)
    except UnsafeCacheError as error:  # an entry of a read-only layer fails the rule
        return {"state": "unsafe", "path": error.path, "problems": [str(error)], "ok": False}
    if entries is None:  # never published, perhaps refused (lazyext._store.verify.refusal)
        closure = env.closure_of(plan.key) if env is not None else None
        refused = [p for d in closure or () if d.key for p in refusal(root, d.key)]
        state = "refused" if refused else "missing"
        return {
            "state": state,
            "path": "",
            "problems": refused,
            "ok": not refused,
        }
    problems = []
    kept = False  # damage in a read-only layer, which lazyext never writes to
    for entry in entries:  # every distribution of the closure
        damage = verify_entry(entry, config.settings)  # layers: every file's mode too
        layer = layer_of(entry.path, config.settings)
        if damage and repair and layer is not None:
            kept = True
            damage.append(f"in the read-only layer {layer}: not repaired; rebuild the layer")
        elif damage and repair:
            linked = linked_damage(entry)
            if linked:  # hard-linked from uv's cache, damaged there too: unpack afresh
                clean_cache(linked, config.settings)
                damage.append(f"removed from uv's cache: {', '.join(linked)}")
            quarantine(entry)
        problems += damage
    state = "ok" if not problems else "repaired" if repair and not kept else "damaged"
    main = main_entry(config, plan, env)
    path = main.path if main is not None else entries[0].path if entries else ""
    # Repaired: the damaged installs are out of use, the next use reinstalls them.
    ok = state != "damaged"
    return {"state": state, "path": path, "problems": problems, "ok": ok}
