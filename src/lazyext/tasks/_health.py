"""Health check: import each configured extension in a fresh child process.

A child, because an import that crashes, hangs or poisons ``sys.modules`` must not
take the checking process with it. The child gets the parent's loaded config (in
lazyext's compiled form, on stdin), activates it offline and imports the
extension's modules from the cache; the result is recorded in the task state.
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from lazyext._settings.config import check_names

if TYPE_CHECKING:
    from lazyext._settings.config import Config, Plan

_TAIL_LINES = 12


def check_health(
    config: Config,
    *,
    names: tuple[str, ...] | list[str] = (),
    timeout: float = 60.0,
    data_dir: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """Check the enabled (or the named) extensions; record and return the results."""
    from lazyext import _trust
    from lazyext._settings import memo as _memo
    from lazyext.tasks._store import SqliteTasks

    check_names(config, names)
    root = _trust.ensure_root(config.settings.cache_dir)
    payload = _memo.encode(config)
    plans = [
        plan
        for plan in config.plans
        if plan.extension.package is not None
        and plan.marker_ok
        and (plan.name in names if names else plan.extension.enabled)
    ]

    def one(plan: Plan) -> dict[str, Any]:
        ok, detail = _check(plan, config, root, payload, timeout)
        return {
            "name": plan.name,
            "requirement": plan.requirement,
            "checked_at": time.time(),
            "ok": ok,
            "detail": detail,
        }

    workers = max(1, min(config.settings.parallel, len(plans) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lazyext-health") as pool:
        results = list(pool.map(one, plans))
    if results:
        SqliteTasks(data_dir).put_health(results)
    return results


def _check(plan: Plan, config: Config, root: str, payload: Any, timeout: float) -> tuple[bool, str]:
    from lazyext._env.host import satisfies
    from lazyext._report.status import closure_entries

    entries = closure_entries(config, plan)
    if entries is None and not satisfies(plan.dist, plan.specifier):
        return False, "not installed (run: lazyext warm)"
    command = [sys.executable, "-m", "lazyext.tasks._health"]
    data = marshal.dumps((payload, plan.name))
    try:
        done = subprocess.run(
            command, input=data, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return False, f"importing took longer than {timeout:g} s (killed)"
    out = done.stdout.decode(errors="replace").strip()
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        return False, "\n".join(lines[-_TAIL_LINES:]) or f"exit status {done.returncode}"
    return True, out


def _child() -> int:
    """In the child: activate the parent's config offline and import one extension."""
    import importlib

    from lazyext._importer.runtime import Runtime
    from lazyext._record import replace
    from lazyext._settings import memo as _memo

    payload, name = marshal.loads(sys.stdin.buffer.read())
    config = _memo.decode(payload)
    # Offline: a check must never install; the parent checked the cache already.
    config = replace(config, settings=replace(config.settings, offline=True))
    plan = config.plan_for(name)
    if plan is None:
        print(f"{name!r} is not in the config", file=sys.stderr)
        return 2
    Runtime(config).install_finders()
    found = []
    for module_name in plan.extension.modules:
        module = importlib.import_module(module_name)
        version = getattr(module, "__version__", "")
        found.append(f"{module_name} {version}".strip() + f" from {module.__file__}")
    print("; ".join(found))
    return 0


if __name__ == "__main__":
    sys.exit(_child())
