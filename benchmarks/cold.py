"""B4 and B4-real: the first import of an extension lazyext has not installed yet.

The baseline is what a user would run instead: ``uv pip install --target DIR REQ``
with uv's defaults (link mode, no bytecode), then a new process that imports from
``DIR``. Both sides use the same uv cache state (*warm*: the workspace's filled uv
cache; *cold*: a new empty one per run) and let the interpreter write bytecode as it
imports (a user's default). lazyext runs in a *used* cache (its compiled config is
there, no installs); the first process of a new config (nothing in the cache at all)
is its own row.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.harness import Row, interleave, median, python, run
from benchmarks.workspace import warm_module

if TYPE_CHECKING:
    from benchmarks.workspace import Workspace

#: Simulated round trip of a package index (HTTP on 127.0.0.1, answered after a delay).
INDEX_LATENCY = 0.05
REAL = ("benchreal", "bench-real>=1")
ONE = ("benchone", "bench-one>=1")
BIG = ("benchbig", "bench-big>=1")
PANDAS = ("pandas", "pandas")
#: B7's "flat, not linear": 100 configured extensions cost at most 10% more than 1.
FLAT = 1.10
#: B4's target: lazyext's first import within 10% of raw uv + import.
B4_RATIO = 1.10
#: The first process of a new config (it parses, resolves, then installs): issue 20.
NEW_CONFIG_RATIO = 1.5
#: A config whose environment is resolved and partly installed, first import of another
#: extension of it: issue 20.
RESOLVED_RATIO = 1.15


def activate_code(ws: Workspace, config: dict[str, str], *, index: bool | None = False) -> str:
    sources = "" if index is None else ", " + ws.sources(index=index)
    return f"import lazyext\nlazyext.activate({config!r}{sources})\n"


class ColdPath:
    """Mixed into the suite: needs ``ws``, ``reps``, ``add``, ``facts``, ``quick``,
    ``real`` and ``ext_config``."""

    ws: Workspace
    quick: bool
    real: bool
    facts: dict[str, object]

    def reps(self, full: int) -> int:
        raise NotImplementedError

    def add(self, row: Row) -> None:
        raise NotImplementedError

    def ext_config(self, count: int) -> dict[str, str]:
        raise NotImplementedError

    def cold_pair(
        self,
        target: tuple[str, str] = REAL,
        *,
        index: bool | None,
        uv_cold: bool,
        config: dict[str, str] | None = None,
        online_first: bool = False,
        new_config: bool = False,
    ) -> tuple[Callable[[], float], Callable[[], float]]:
        """(lazyext first import, raw uv install + import), each in a fresh state.

        ``index``: the local index (True), the wheelhouse as find-links (False) or
        uv's default index, PyPI (None). ``online_first`` turns lazyext's offline-first
        resolution off (to measure it); ``new_config``: a cache without the compiled
        config.
        """
        ws = self.ws
        module, requirement = target
        config = config or {module: requirement}
        code = activate_code(ws, config, index=index) + f"import {module}\n"
        if online_first:
            off = "from lazyext._uv import command\ncommand.may_use_network = lambda s: False\n"
            code = off + code
        cwd = str(ws.cwd)

        def uv_cache() -> Path:
            return ws.fresh("uv-cold") if uv_cold else ws.uv_warm

        def lazy() -> float:
            cache = (
                ws.fresh("new-config")
                if new_config
                else ws.cold_cache(f"b4-{module}-{index}-{len(config)}")
            )
            env = ws.env(cache=cache, uv_cache=uv_cache(), bytecode=True)
            return python(code, env=env, cwd=cwd)[0]

        def raw() -> float:
            env = ws.env(uv_cache=uv_cache(), bytecode=True)
            directory = ws.fresh("target")
            installed = run(ws.uv_argv(requirement, directory, index=index), env=env)[0]
            use = f"import site\nsite.addsitedir({str(directory)!r})\nimport {module}\n"
            return installed + python(use, env=env, cwd=cwd)[0]

        return lazy, raw

    def _b4_row(self, label: str, variants: dict[str, Callable[[], float]], reps: int) -> None:
        samples = interleave(variants, self.reps(reps), warmup=1)
        self.add(
            Row(
                "B4",
                f"first import, uncached: {label}",
                median(samples["lazyext"]),
                median(samples["raw"]),
                "ms",
                "ratio",
                B4_RATIO,
            )
        )
        if "new-config" in variants:
            self.add(
                Row(
                    "B4",
                    f"first process of a new config (empty cache): {label}",
                    median(samples["new-config"]),
                    median(samples["raw"]),
                    "ms",
                    "ratio",
                    NEW_CONFIG_RATIO,
                )
            )
        if "resolved" in variants:
            self.add(
                Row(
                    "B4",
                    f"environment resolved, 1 of 2 extensions installed, the other: {label}",
                    median(samples["resolved"]),
                    median(samples["raw"]),
                    "ms",
                    "ratio",
                    RESOLVED_RATIO,
                )
            )
        self.ws.clean_scratch()

    def resolved(self) -> Callable[[], float]:
        """lazyext's first import of ONE in a config of two extensions whose environment
        is resolved and whose other extension is installed (a copy of that cache each
        time, made before the process is timed)."""
        ws = self.ws
        other = (warm_module(0), "bench-warm-0>=1")
        config = {other[0]: other[1], ONE[0]: ONE[1]}
        template = ws.root / "b4-resolved"
        shutil.rmtree(template, ignore_errors=True)
        template.mkdir(mode=0o700)
        prepare = activate_code(ws, config) + f"import {other[0]}\n"
        python(prepare, env=ws.env(cache=template, bytecode=True), cwd=str(ws.cwd))
        code = activate_code(ws, config) + f"import {ONE[0]}\n"

        def once() -> float:
            cache = ws.fresh("resolved")
            shutil.copytree(template, cache, symlinks=True, dirs_exist_ok=True)
            env = ws.env(cache=cache, uv_cache=ws.uv_warm, bytecode=True)
            return python(code, env=env, cwd=str(ws.cwd))[0]

        return once

    def b4(self) -> None:
        ws = self.ws
        for size, target in (("1 module", ONE), ("1,500 modules", BIG)):
            for uv_label, uv_cold in (("uv cache cold", True), ("uv cache warm", False)):
                lazy, raw = self.cold_pair(target, index=False, uv_cold=uv_cold)
                variants = {"lazyext": lazy, "raw": raw}
                if not uv_cold:
                    variants["new-config"] = self.cold_pair(
                        target, index=False, uv_cold=False, new_config=True
                    )[0]
                if target is ONE and not uv_cold:
                    variants["resolved"] = self.resolved()
                self._b4_row(f"{size}, find-links, {uv_label}", variants, 7)
        with ws.index(INDEX_LATENCY):
            # uv's cache learns the index's pages and wheels once (they stay stale).
            run(ws.uv_argv(REAL[1], ws.fresh("fill"), index=True), env=ws.env())
            for uv_label, uv_cold in (("uv cache cold", True), ("uv cache warm", False)):
                label = f"34 modules, index {INDEX_LATENCY * 1000:.0f} ms RTT, {uv_label}"
                lazy, raw = self.cold_pair(index=True, uv_cold=uv_cold)
                online = self.cold_pair(index=True, uv_cold=uv_cold, online_first=True)[0]
                variants = {"lazyext": lazy, "raw": raw, "online-first": online}
                samples = interleave(variants, self.reps(5), warmup=1)
                self.facts[f"B4 {label}: ms offline-first / online-first / raw uv"] = [
                    round(median(samples[k]), 1) for k in ("lazyext", "online-first", "raw")
                ]
                self.add(
                    Row(
                        "B4",
                        f"first import, uncached: {label}",
                        median(samples["lazyext"]),
                        median(samples["raw"]),
                        "ms",
                        "ratio",
                        B4_RATIO,
                    )
                )
                ws.clean_scratch()
        variants = {}
        for count in (1, 10, 100):
            config = {**self.ext_config(count - 1), REAL[0]: REAL[1]}
            variants[str(count)] = self.cold_pair(index=False, uv_cold=False, config=config)[0]
        samples = interleave(variants, self.reps(5), warmup=1)
        at = {n: median(samples[str(n)]) for n in (1, 10, 100)}
        self.facts["B4 ms at 1/10/100 configured"] = [round(at[n], 1) for n in (1, 10, 100)]
        self.add(
            Row(
                "B7-B4",
                f"B4 (find-links, uv warm) at 100 vs 1 configured (10: {at[10]:.0f} ms)",
                at[100],
                at[1],
                "ms",
                "ratio",
                FLAT,
            )
        )
        ws.clean_scratch()
        if self.real:
            self.b4_real()

    def b4_real(self) -> None:
        """pandas (with numpy) from the real index, uv cache warm: needs the network."""
        ws = self.ws
        # Fill uv's cache (and learn the index's pages) once, outside the measurement.
        run(ws.uv_argv(PANDAS[1], ws.fresh("fill"), index=None), env=ws.env(), timeout=600)
        lazy, raw = self.cold_pair(PANDAS, index=None, uv_cold=False)
        samples = interleave({"lazyext": lazy, "raw": raw}, self.reps(3), warmup=1)
        self.add(
            Row(
                "B4-real",
                "first import of pandas (+numpy) from PyPI, uv cache warm",
                median(samples["lazyext"]),
                median(samples["raw"]),
                "ms",
                "ratio",
                B4_RATIO,
            )
        )
        ws.clean_scratch()
