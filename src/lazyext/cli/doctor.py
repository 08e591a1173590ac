"""``lazyext doctor [NAME...]``: see :mod:`lazyext._report.doctor`."""

from __future__ import annotations

import argparse
import time
from typing import Any

from lazyext._report import doctor, shapes
from lazyext._settings.config import check_names
from lazyext.cli.output import EXIT_FAILURE, EXIT_OK, failure, load_config, print_json


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "doctor", help="why each extension is (not) served; the interpreter, uv, cache, index"
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="extensions (default: all)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    config = load_config(args)
    check_names(config, args.names)
    setup = doctor.setup(config)
    conflicts = doctor.environment_problems(config)
    rows = []
    for plan in config.plans:
        if args.names and plan.name not in args.names:
            continue
        found = doctor.diagnose(config, plan, conflicts)
        entry = found["entry"] or {}
        failed = found["failure"] is not None and entry == {}
        rows.append(
            shapes.extension(
                plan.name,
                ok=not failed and not found["problems"],
                state=found["verdict"].partition(":")[0],
                requirement=plan.requirement or "(built-in)",
                version=entry.get("version", ""),
                path=entry.get("target", ""),
                installed_at=entry.get("installed_at"),
                modules=list(plan.extension.modules),
                enabled=plan.extension.enabled,
                key=plan.key,
                detail=found["verdict"],
                problems=found["problems"],
                failure=found["failure"],
                diagnosis=found,
            )
        )
    problems = [] if setup["cache"]["safe"] else [f"cache: {setup['cache']['problem']}"]
    problems += [] if setup["uv"]["version"] else [f"uv: {setup['uv']['problem']}"]
    report = shapes.report("doctor", config, rows, setup=setup)
    report["ok"] = report["ok"] and not problems
    if not report["ok"]:  # the --json document's error (lazyext.cli.output)
        if problems and all(row["ok"] for row in rows):
            report["error"] = failure("SetupProblem", "; ".join(problems), problems)
        else:
            report["error"] = shapes.rows_error(rows)
            report["error"]["problems"][:0] = problems
    if args.json:
        print_json(report)
    else:
        _print(setup, rows)
    return EXIT_OK if report["ok"] else EXIT_FAILURE


def _print(setup: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    python, uv, cache = setup["python"], setup["uv"], setup["cache"]
    index, offline = setup["index"], setup["offline"]
    print(f"config:   {setup['config']}")
    print(f"python:   {python['executable']} ({python['implementation']} {python['version']})")
    print(f"platform: {python['platform']}")
    print(f"uv:       {uv['path']} ({uv['version'] or 'PROBLEM: ' + str(uv['problem'])})")
    safety = (
        f"ok: yours, {cache.get('mode')}, not writable by others"
        if cache["safe"]
        else f"PROBLEM: {cache['problem']}"
    )
    print(f"cache:    {cache['root']} ({safety})")
    for layer in cache["layers"]:
        print(f"          read-only layer {layer}")
    default = "none (no-index)" if index["no_index"] else "uv's default (PyPI)"
    print(f"index:    {index['index_url'] or default}")
    for url in index["extra_index_urls"]:
        print(f"          extra {url}")
    for link in index["find_links"]:
        print(f"          find-links {link}")
    print(f"          credentials: {index['credentials']}")
    print(f"offline:  {'yes' if offline['offline'] else 'no'} ({offline['because']})")
    for row in rows:
        found = row["diagnosis"]
        print(f"\n{row['name']}: {row['detail']}")
        print(f"  requirement: {row['requirement']}")
        for module, finder in found["finder"].items():
            print(f"  import {module}: {finder}")
            host = found["host"].get(module) or {}
            if host.get("module") or host.get("distribution"):
                shadow = "shadows the cache" if host["shadows"] else "not used"
                print(
                    f"    host copy: {host.get('distribution') or '(no distribution)'} at "
                    f"{host.get('module')} ({shadow})"
                )
            else:
                print("    host copy: none")
        entry = found["entry"]
        if entry is not None:
            state = "expired (refreshed by maintenance)" if entry["expired"] else "fresh"
            installed = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["installed_at"]))
            print(f"  entry: {entry['key'][:16]}... {entry['path']}")
            print(f"    version {entry['version']}, installed {installed}, {state}")
            print(f"    distributions: {', '.join(entry['distributions'])}")
        elif row["requirement"] != "(built-in)":
            print("  entry: none in the cache")
        failure = found["failure"]
        print(f"  remembered failure: {failure['summary'] if failure else 'none'}")
        if failure is not None:  # the verdict has its first line; here the rest (uv's words)
            for line in failure["message"].splitlines()[1:]:
                print(f"    {line}")
        for problem in found["problems"]:
            print(f"  PROBLEM: {problem}")
        if found["pth"]:
            for pth in found["pth"]:
                print(f"  {pth['file']}:")
                for effect in pth["effects"]:
                    print(f"    {effect}")
        elif entry is not None:
            print("  .pth files: none")
