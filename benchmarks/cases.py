"""The benchmarks B1-B7 of issue 4, each measured against a baseline in the same run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.cold import FLAT, INDEX_LATENCY, REAL, ColdPath, activate_code
from benchmarks.harness import MEMO_SETTLE, Row, interleave, median, python, run
from benchmarks.workspace import (
    EXTENSIONS,
    REPO,
    WARM_SET,
    Workspace,
    ext_module,
    ext_requirement,
    warm_module,
)

#: Top-level stdlib modules left out of B2: GUI, side effects, deprecation warnings.
_SKIP_STDLIB = frozenset(
    [
        "antigravity",
        "this",
        "idlelib",
        "tkinter",
        "turtle",
        "turtledemo",
        "lib2to3",
        "distutils",
        "imp",
        "asynchat",
        "asyncore",
        "smtpd",
        "cgi",
        "cgitb",
        "crypt",
        "imghdr",
        "mailcap",
        "msilib",
        "nis",
        "nntplib",
        "ossaudiodev",
        "pipes",
        "sndhdr",
        "spwd",
        "sunau",
        "telnetlib",
        "uu",
        "xdrlib",
        "audioop",
        "chunk",
        "aifc",
        "ensurepip",
        "pydoc_data",
        "msvcrt",
        "nt",
        "winreg",
        "winsound",
        "__main__",
        "sre_compile",
        "sre_constants",
        "sre_parse",
    ]
)
_SUBMODULES = [
    "email.mime.text",
    "email.mime.multipart",
    "email.parser",
    "email.policy",
    "email.utils",
    "xml.etree.ElementTree",
    "xml.dom.minidom",
    "xml.sax",
    "http.client",
    "http.server",
    "http.cookies",
    "urllib.request",
    "urllib.parse",
    "json.decoder",
    "concurrent.futures",
    "importlib.metadata",
    "importlib.resources",
    "logging.handlers",
    "logging.config",
    "unittest.mock",
    "xml.parsers.expat",
    "html.parser",
    "multiprocessing.pool",
    "asyncio.subprocess",
    "ctypes.util",
    "dbm.dumb",
    "wsgiref.simple_server",
    "encodings.idna",
    "curses.ascii",
    "sqlite3.dbapi2",
    "os.path",
    "collections.abc",
    "email.message",
    "email.headerregistry",
    "email.generator",
    "email.charset",
    "email.encoders",
    "email.mime.base",
    "email.mime.image",
    "email.mime.audio",
    "email.mime.application",
    "xml.dom.pulldom",
    "xml.sax.saxutils",
    "xmlrpc.client",
    "xmlrpc.server",
    "http.cookiejar",
    "urllib.error",
    "urllib.robotparser",
    "json.encoder",
    "concurrent.futures.process",
    "importlib.util",
    "importlib.abc",
    "multiprocessing.queues",
    "multiprocessing.managers",
    "multiprocessing.shared_memory",
    "asyncio.streams",
    "asyncio.queues",
    "unittest.case",
    "unittest.loader",
    "curses.textpad",
    "sqlite3.dump",
    "wsgiref.util",
    "wsgiref.headers",
    "wsgiref.validate",
    "encodings.punycode",
    "encodings.base64_codec",
    "encodings.hex_codec",
    "encodings.cp1252",
    "encodings.utf_16",
    "encodings.utf_32",
    "html.entities",
    "dbm.ndbm",
    "dbm.gnu",
    "logging.config",
    "xml.etree.cElementTree",
    "email.mime.message",
    "email.mime.nonmultipart",
    "email.quoprimime",
    "email.base64mime",
    "multiprocessing.connection",
    "multiprocessing.heap",
    "multiprocessing.synchronize",
    "ctypes.macholib",
    "unittest.result",
    "unittest.runner",
    "unittest.suite",
    "urllib.parse",
]
STDLIB_COUNT = 150
MISSING_COUNT = 300


def ext_config(count: int) -> dict[str, str]:
    return {ext_module(i): ext_requirement(i) for i in range(count)}


class Suite(ColdPath):
    """Runs the benchmarks; ``quick`` cuts every repetition count to a smoke test;
    ``real`` adds B4-real (pandas from PyPI: needs the network)."""

    def __init__(
        self, ws: Workspace, *, quick: bool, log: Callable[[str], None], real: bool = False
    ) -> None:
        self.ws = ws
        self.quick = quick
        self.real = real
        self.log = log
        self.rows: list[Row] = []
        self.b3_process = 20.0  # ms, until B3 measures it
        self.facts: dict[str, object] = {}

    def reps(self, full: int) -> int:
        return 1 if self.quick else full

    def ext_config(self, count: int) -> dict[str, str]:
        return ext_config(count)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        self.log(f"  {row.id} {row.measure}: {' | '.join(row.cells()[2:])}")

    # -- setup --------------------------------------------------------------------

    def setup(self) -> None:
        """Fill lazyext's warm cache (all extensions + the real package) and uv's cache."""
        ws = self.ws
        ws.prepare()
        from lazyext._settings.load import load
        from lazyext._use import warm

        os.environ["UV_CACHE_DIR"] = str(ws.uv_warm)
        config = {**ext_config(EXTENSIONS), REAL[0]: REAL[1]}
        overrides = {"cache_dir": str(ws.cache_warm), "find_links": [str(ws.wheels)]}
        loaded = load(config, {**overrides, "no_index": True})
        failed = {n: r for n, r in warm((), loaded).items() if isinstance(r, BaseException)}
        if failed:
            raise RuntimeError(f"setup: installs failed: {failed}")
        self.config = loaded
        # Installs outside lazyext fill uv's cache for every wheel (find-links).
        fill = [f"bench-warm-{i}" for i in range(WARM_SET)] + ["bench-one", "bench-big"]
        run(ws.uv_argv(fill[0], ws.fresh("uvfill"), *fill[1:]), env=ws.env())
        # B3's baseline: the same package installed by pip (which compiles) into a
        # site-packages-like directory.
        self.site = ws.root / "site"
        shutil.rmtree(self.site, ignore_errors=True)
        run(ws.pip_argv(REAL[1], self.site), env=ws.env())

    def targets(self, count: int) -> list[str]:
        """The install directories of the first ``count`` extensions' closures."""
        from lazyext._env.provision import cached_closure, environment

        root = str(self.ws.cache_warm)
        env = environment(self.config)
        found: list[str] = []
        for plan in self.config.plans[:count]:
            entries = cached_closure(root, env, plan, self.config.settings)
            if not entries:
                raise RuntimeError(f"setup: {plan.requirement} is not cached")
            found += [entry.target for entry in entries if entry.target not in found]
        return found

    # -- B1 -----------------------------------------------------------------------

    def b1(self) -> None:
        ws = self.ws
        env = ws.env()
        codes = {n: activate_code(ws, ext_config(n)) for n in (1, 10, 50, 100)}
        variants = {f"lazyext-{n}": self._process(code, env) for n, code in codes.items()}
        variants["base"] = self._process("pass", env)
        samples = interleave(variants, self.reps(20), warmup=2, settle=MEMO_SETTLE)
        base = median(samples["base"])
        self.add(
            Row(
                "B1",
                "import lazyext; activate(cfg), 50 cached (process wall)",
                median(samples["lazyext-50"]),
                base,
                "ms",
                "delta",
                3.0,  # issue 20
            )
        )
        at = {n: median(samples[f"lazyext-{n}"]) for n in (1, 10, 100)}
        self.facts["B1 process ms at 1/10/100"] = [round(at[n], 2) for n in (1, 10, 100)]
        self.facts["B1 marginal cost per configured extension (us)"] = round(
            (at[100] - at[1]) / 99 * 1000, 1
        )
        self.add(
            Row(
                "B7-B1",
                f"B1 at 100 vs 1 configured (10: {at[10]:.1f} ms)",
                at[100],
                at[1],
                "ms",
                "ratio",
                FLAT,
            )
        )

    def _process(self, code: str, env: dict[str, str]) -> Callable[[], float]:
        cwd = str(self.ws.cwd)
        return lambda: python(code, env=env, cwd=cwd)[0]

    # -- B2 -----------------------------------------------------------------------

    def b2(self) -> None:
        ws = self.ws
        spec_file = ws.root / "b2-spec.json"
        spec: dict[str, object] = {
            "modules": [ext_module(i) for i in range(EXTENSIONS)],
            "requirements": [ext_requirement(i) for i in range(EXTENSIONS)],
            "find_links": [str(ws.wheels)],
            "targets": self.targets(EXTENSIONS),
            "candidates": sorted(set(sys.stdlib_module_names) - _SKIP_STDLIB - {"lazyext"})
            + _SUBMODULES,
            "missing": [f"bench_missing_{i}" for i in range(MISSING_COUNT)],
            "rounds": 5,
            "preload": [],
            "stdlib": [],
        }
        spec["candidates"] = [n for n in spec["candidates"] if not n.startswith("_")]  # type: ignore[attr-defined]
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        child = str(REPO / "benchmarks" / "_child_imports.py")
        env = ws.env()
        probed = json.loads(run([sys.executable, child, "probe", "0", str(spec_file)], env=env)[1])
        spec["preload"] = probed["preload"]
        spec["stdlib"] = probed["stdlib"][:STDLIB_COUNT]
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        self.facts["B2 stdlib modules timed"] = len(spec["stdlib"])  # type: ignore[arg-type]
        results: dict[str, list[tuple[float, float]]] = {}

        def variant(mode: str, count: int) -> Callable[[], float]:
            def once() -> float:
                out = run([sys.executable, child, mode, str(count), str(spec_file)], env=env)[1]
                data = json.loads(out)
                pair = (data["stdlib_ns"] / 1e6, data["failing_ns"] / 1e6)
                results.setdefault(f"{mode}-{count}", []).append(pair)
                return pair[0]

            return once

        variants = {
            "base-0": variant("base", 0),
            "lazyext-100": variant("lazyext", EXTENSIONS),
            "naive-100": variant("naive", EXTENSIONS),
            "lazyext-1": variant("lazyext", 1),
            "lazyext-10": variant("lazyext", 10),
        }
        interleave(variants, self.reps(12), warmup=1)
        stdlib = {k: median([p[0] for p in v[-self.reps(12) :]]) for k, v in results.items()}
        failing = {k: median([p[1] for p in v[-self.reps(12) :]]) for k, v in results.items()}
        lz, base, naive = "lazyext-100", "base-0", "naive-100"
        self.add(
            Row(
                "B2",
                "150 stdlib imports, 100 active",
                stdlib[lz],
                stdlib[base],
                "ms",
                "ratio",
                1.05,
            )
        )
        self.add(
            Row(
                "B2",
                "300 failing imports, 100 active",
                failing[lz],
                failing[base],
                "ms",
                "ratio",
                1.05,
            )
        )
        self.add(
            Row(
                "B2",
                "150 stdlib imports vs naive layout",
                stdlib[lz],
                stdlib[naive],
                "ms",
                "ratio",
                1.05,
            )
        )
        self.add(
            Row(
                "B2",
                "300 failing imports vs naive layout",
                failing[lz],
                failing[naive],
                "ms",
                "ratio",
                1.05,
            )
        )
        self.facts["B2 naive layout vs no lazyext (stdlib, failing)"] = [
            round(stdlib[naive] / stdlib[base], 2),
            round(failing[naive] / failing[base], 2),
        ]
        at = {n: failing[f"lazyext-{n}"] for n in (1, 10, 100)}
        self.facts["B2 failing ms at 1/10/100"] = [round(at[n], 3) for n in (1, 10, 100)]
        self.add(
            Row(
                "B7-B2",
                f"B2 failing imports at 100 vs 1 active (10: {at[10]:.2f} ms)",
                at[100],
                at[1],
                "ms",
                "ratio",
                FLAT,
            )
        )

    # -- B3 -----------------------------------------------------------------------

    def b3(self) -> None:
        """A cached extension's first import in a process, two ways into the cache: a
        cold install by an import (the interpreter wrote the bytecode, this is the
        second process), and ``lazyext warm`` with ``PYTHONDONTWRITEBYTECODE=1`` (it
        compiled ahead; nothing is written on import). Baseline: pip's install."""
        ws = self.ws

        timed = "import time\nt = time.perf_counter_ns()\nimport benchreal\n"
        report = "print(time.perf_counter_ns() - t)\n"
        config = {**ext_config(50), REAL[0]: REAL[1]}
        lz_code = "import time\n" + activate_code(ws, config) + timed + report
        base_code = f"import time, site\nsite.addsitedir({str(self.site)!r})\n" + timed + report
        after_import = ws.root / "b3-after-import"
        after_warm = ws.root / "b3-after-warm"
        for cache in (after_import, after_warm):
            shutil.rmtree(cache, ignore_errors=True)
            cache.mkdir(mode=0o700)
        # A cold install by an import, in a process that writes bytecode (the default).
        python(lz_code, env=ws.env(cache=after_import, bytecode=True), cwd=str(ws.cwd))
        # `lazyext warm` with PYTHONDONTWRITEBYTECODE=1: it compiles ahead all the same.
        config_file = ws.root / "b3.toml"
        config_file.write_text(
            f'find-links = ["{ws.wheels}"]\nno-index = true\n\n'
            f'[[extensions]]\nname = "{REAL[0]}"\npackage = "{REAL[1]}"\n',
            encoding="utf-8",
        )
        argv = [sys.executable, "-m", "lazyext", "--config", str(config_file), "warm"]
        run(argv, env=ws.env(cache=after_warm), cwd=str(ws.cwd))
        inside: dict[str, list[float]] = {"import": [], "warm": [], "base": []}

        def variant(name: str, code: str, cache: Path | None) -> Callable[[], float]:
            def once() -> float:
                wall, out = python(code, env=ws.env(cache=cache), cwd=str(ws.cwd))
                inside[name].append(int(out.strip()) / 1e6)
                return wall

            return once

        reps = self.reps(15)
        samples = interleave(
            {
                "import": variant("import", lz_code, after_import),
                "warm": variant("warm", lz_code, after_warm),
                "base": variant("base", base_code, None),
            },
            reps,
            warmup=1,
            settle=MEMO_SETTLE,
        )
        base = median(inside["base"][-reps:])
        for name, label in (
            ("import", "second process after a cold install"),
            ("warm", "first process after `lazyext warm`, PYTHONDONTWRITEBYTECODE=1"),
        ):
            self.add(
                Row(
                    "B3",
                    f"import statement, {label}",
                    median(inside[name][-reps:]),
                    base,
                    "ms",
                    "ratio",
                    1.05,
                )
            )
        self.b3_process = median(samples["warm"])
        self.add(
            Row(
                "B3",
                "same after warm, whole process (lazyext: + import lazyext, activate)",
                median(samples["warm"]),
                median(samples["base"]),
                "ms",
                "delta",
                5.0,
            )
        )

    # -- B5 -----------------------------------------------------------------------

    def b5(self) -> None:
        ws = self.ws
        requirements = [f"bench-warm-{i}>=1" for i in range(WARM_SET)]
        cases = [
            (f"index {INDEX_LATENCY * 1000:.0f} ms RTT, uv cache cold", True, True),
            ("find-links, uv cache warm", False, False),
        ]
        with ws.index(INDEX_LATENCY):
            for label, index, uv_cold in cases:
                config_file = ws.root / f"b5-{int(index)}.toml"
                source = (
                    f'index-url = "{ws.index_url}"\n'
                    if index
                    else (f'find-links = ["{ws.wheels}"]\nno-index = true\n')
                )
                for i, requirement in enumerate(requirements):
                    source += (
                        f'\n[[extensions]]\nname = "{warm_module(i)}"\npackage = "{requirement}"\n'
                    )
                config_file.write_text(source, encoding="utf-8")

                def uv_cache(uv_cold: bool = uv_cold) -> Path:
                    return ws.fresh("uv-cold") if uv_cold else ws.uv_warm

                def lazy(config_file: Path = config_file, *more: str) -> float:
                    env = ws.env(cache=ws.cold_cache(f"b5{''.join(more)}"), uv_cache=uv_cache())
                    argv = [sys.executable, "-m", "lazyext", "--config", str(config_file), "warm"]
                    return run([*argv, *more], env=env, cwd=str(ws.cwd))[0]

                def raw(index: bool = index) -> float:
                    env = ws.env(uv_cache=uv_cache())
                    total = 0.0
                    for requirement in requirements:
                        total += run(ws.uv_argv(requirement, ws.fresh("t"), index=index), env=env)[
                            0
                        ]
                    return total

                def no_compile(config_file: Path = config_file) -> float:
                    # uv's installs compile nothing; warm compiles ahead by default.
                    return lazy(config_file, "--no-compile")

                variants: dict[str, Callable[[], float]] = {"lazyext": lazy, "raw": raw}
                if not index:
                    variants["no-compile"] = no_compile
                if index and not self.quick:
                    for parallel in (1, 2, 8):
                        variants[f"parallel={parallel}"] = self._warm_with(
                            config_file, parallel, uv_cache
                        )
                samples = interleave(variants, self.reps(5), warmup=1)
                if not index:
                    self.facts[f"B5 {label}: ms warm / warm --no-compile / raw uv"] = [
                        round(median(samples[k]), 1) for k in ("lazyext", "no-compile", "raw")
                    ]
                if index and not self.quick:
                    self.facts[f"B5 {label}: ms at parallel 1/2/4/8"] = [
                        round(median(samples[k]), 0)
                        for k in ("parallel=1", "parallel=2", "lazyext", "parallel=8")
                    ]
                self.add(
                    Row(
                        "B5",
                        f"lazyext warm, 8 missing: {label}",
                        median(samples["lazyext"]),
                        median(samples["raw"]),
                        "ms",
                        "ratio",
                        0.5 if index else 0.6,
                    )
                )
                ws.clean_scratch()

    def _warm_with(
        self, config_file: Path, parallel: int, uv_cache: Callable[[], Path]
    ) -> Callable[[], float]:
        ws = self.ws
        variant = config_file.with_name(f"{config_file.stem}-p{parallel}.toml")
        variant.write_text(
            f"parallel = {parallel}\n" + config_file.read_text(encoding="utf-8"), encoding="utf-8"
        )

        def once() -> float:
            env = ws.env(cache=ws.cold_cache(f"b5-p{parallel}"), uv_cache=uv_cache())
            argv = [sys.executable, "-m", "lazyext", "--config", str(variant), "warm"]
            return run(argv, env=env, cwd=str(ws.cwd))[0]

        return once

    # -- B6 -----------------------------------------------------------------------

    def b6(self) -> None:
        ws = self.ws
        code = activate_code(ws, {REAL[0]: REAL[1]}) + "import benchreal\n"
        installs: list[int] = []
        alone: list[int] = []

        site_code = f"import site\nsite.addsitedir({str(self.site)!r})\nimport benchreal\n"

        def crowd(
            size: int,
            poll: float | None = None,
            backend: str = "",
            cached: bool = False,
            site: bool = False,
        ) -> Callable[[], float]:
            def once() -> float:
                # cached: a cache the first (discarded) round filled, without bytecode:
                # the 16 processes' own work, with no install and no lock to wait for.
                cache = ws.root / "b6-cached" if cached else ws.cold_cache("b6")
                cache.mkdir(mode=0o700, exist_ok=True)
                env = ws.env(cache=cache)
                if backend:
                    env["LAZYEXT_LOCK_BACKEND"] = backend
                prefix = (
                    ""
                    if poll is None
                    else f"import lazyext._store.locks as l\nl.POLL_MAX = {poll}\n"
                )
                argv = [sys.executable, "-c", site_code if site else prefix + code]
                started = time.perf_counter_ns()
                processes = [
                    subprocess.Popen(argv, env=env, cwd=str(ws.cwd), stdout=subprocess.DEVNULL)
                    for _ in range(size)
                ]
                codes = [process.wait(timeout=120) for process in processes]
                wall = (time.perf_counter_ns() - started) / 1e6
                if any(codes):
                    raise RuntimeError(f"B6: a process failed: {codes}")
                if not cached and not site:
                    # Generations published (one per distribution: bench-real and its
                    # dependency are two entries), to compare with one process alone.
                    published = len(list((cache / "entries").glob("*/*/g*")))
                    (installs if size > 1 else alone).append(published)
                return wall

            return once

        shutil.rmtree(ws.root / "b6-cached", ignore_errors=True)
        variants = {
            "16": crowd(16),
            "1": crowd(1),
            "16-site": crowd(16, site=True),
            "16-cached": crowd(16, cached=True),
        }
        if not self.quick:
            variants["16-poll-50ms"] = crowd(16, 0.05)
            variants["16-filelock"] = crowd(16, backend="filelock")
        samples = interleave(variants, self.reps(5), warmup=1)
        if not self.quick:
            self.facts[
                "B6 wall ms: fcntl lock / poll max 50 ms / filelock / 16 finding it cached"
            ] = [
                round(median(samples[name]), 0)
                for name in ("16", "16-poll-50ms", "16-filelock", "16-cached")
            ]
        self.facts["B6 16 processes vs 16 finding it cached (what lazyext adds)"] = round(
            median(samples["16"]) / median(samples["16-cached"]), 2
        )
        # The floor on this machine (issue 20): one cold process alone (one install must
        # happen) plus 16 interpreters importing the package from a site directory at
        # once (what 16 processes on 2 cores cannot avoid).
        floor = median(samples["1"]) + median(samples["16-site"])
        self.facts["B6 wall ms: 1 cold alone / 16 from a site dir / floor"] = [
            round(median(samples["1"]), 0),
            round(median(samples["16-site"]), 0),
            round(floor, 0),
        ]
        self.add(
            Row(
                "B6",
                "16 processes first-import one cold extension (wall) vs the floor",
                median(samples["16"]),
                floor,
                "ms",
                "ratio",
                1.3,
            )
        )
        self.add(
            Row(
                "B6",
                "entries published by the 16 (worst run) vs by 1 alone",
                max(installs),
                max(alone),
                "",
                "equal",
                max(alone),
            )
        )
        ws.clean_scratch()
