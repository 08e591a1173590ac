"""Figures for the README's "Many machines" section (issue 15), one run each.

    python tools/fleet_figures.py dask WHEELS REQUIREMENT MODULE
        time until both workers of a 2-worker LocalCluster (processes) can import
        MODULE: lazyext's LazyextPlugin vs distributed's PipInstall of REQUIREMENT
        from the local wheels in WHEELS (--no-index --find-links), and uv runs.
        PipInstall installs into the interpreter's environment: use a scratch venv.

Pack/unpack figures come from `lazyext pack -o` / `lazyext unpack` (they print sizes
and times).
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
from pathlib import Path


def _can_import(name: str) -> bool:
    importlib.invalidate_caches()
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _until_all_import(client: object, module: str, started: float) -> float:
    while True:
        answers = client.run(_can_import, module)  # type: ignore[attr-defined]
        if all(answers.values()):
            return time.monotonic() - started
        time.sleep(0.05)


def _time_plugin(plugin: object, module: str) -> float:
    """Seconds from registering ``plugin`` on a fresh 2-worker cluster until both
    worker processes can import ``module``."""
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        assert not any(client.run(_can_import, module).values())
        started = time.monotonic()
        client.register_plugin(plugin)
        return _until_all_import(client, module, started)


def dask(wheels: str, requirement: str, module: str) -> None:
    from distributed.diagnostics.plugin import PipInstall

    from lazyext.integrations.dask import LazyextPlugin

    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch) / "cache"
        os.environ["UV_CACHE_DIR"] = str(Path(scratch) / "uv-cache")  # cold uv cache
        plugin = LazyextPlugin(
            {module: requirement}, cache_dir=str(cache), find_links=[wheels], no_index=True
        )
        lazy = _time_plugin(plugin, module)
        generations = len(list(cache.glob("entries/*/*/g*")))
    options = ["--no-cache-dir", "--no-index", "--find-links", wheels]
    pip = _time_plugin(PipInstall([requirement], pip_options=options), module)
    print(f"lazyext LazyextPlugin: {lazy:.2f} s until both workers import {module}")
    print(f"  installs (published generations = uv runs that succeeded): {generations}")
    print(f"distributed PipInstall: {pip:.2f} s")


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "dask":
        sys.exit(__doc__)
    dask(*sys.argv[2:])
