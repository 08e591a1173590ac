"""``python -m benchmarks.profile [--work DIR] [--runs N]``: where a first import goes.

Profiles the process that first-imports an uncached extension (B4: 1 module and
1,500 modules, uv cache warm) in CPU time, which the load of a shared machine does
not inflate as much as wall time: the lazyext process's own CPU (``getrusage``),
uv's (its children's), and the functions and imports of the cold path by cumulative
CPU time (``cProfile`` with ``time.process_time``). Needs the workspace of a
``python -m benchmarks`` run (wheels, uv cache). benchmarks/README.md, "Cold path
profile", has what it showed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from benchmarks.cold import BIG, ONE
from benchmarks.harness import python, run
from benchmarks.workspace import WORK, Workspace

CHILD = """
import cProfile, resource, sys, time
clock = time.process_time
profile = cProfile.Profile(clock) if sys.argv[1] == "1" else None
if profile: profile.enable()
marks = [clock()]
import lazyext
marks.append(clock())
lazyext.activate({CONFIG}, find_links=[{WHEELS!r}], no_index=True)
marks.append(clock())
import {MODULE}
marks.append(clock())
if profile: profile.disable()
me = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
rows = []
if profile:
    import pstats
    for (file, line, name), (_, _, _, cumulative, _) in pstats.Stats(profile).stats.items():
        rows.append((cumulative * 1000, f"{file.rsplit('/', 1)[-1]}:{name}"))
print(repr((
    (me.ru_utime + me.ru_stime) * 1000,
    (kids.ru_utime + kids.ru_stime) * 1000,
    [(b - a) * 1000 for a, b in zip(marks, marks[1:])],
    sorted(rows, reverse=True)[:40],
    sorted(m for m in sys.modules),
)))
"""

RAW = """
import resource, site, sys
site.addsitedir(sys.argv[1])
import {MODULE}
me = resource.getrusage(resource.RUSAGE_SELF)
print((me.ru_utime + me.ru_stime) * 1000)
"""

BARE = """
import resource
me = resource.getrusage(resource.RUSAGE_SELF)
print((me.ru_utime + me.ru_stime) * 1000)
"""

INTERESTING = (
    "_provision.py",
    "_publish.py",
    "_installer.py",
    "_spawn.py",
    "_cache.py",
    "_locks.py",
    "_view.py",
    "_runtime.py",
    "_jsontext.py",
    "_verify.py",
    "<module>",
    "fsync",
    "posix_spawn",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("--work", default=str(WORK))
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    ws = Workspace(Path(args.work))
    if not ws.wheels.is_dir():
        parser.error(f"no workspace in {args.work}: run python -m benchmarks first")
    bare = [float(python(BARE, env=ws.env())[1]) for _ in range(args.runs)]
    print(f"bare interpreter, CPU: {statistics.median(bare):.1f} ms")
    for module, requirement in (ONE, BIG):
        code = (
            CHILD.replace("{CONFIG}", repr({module: requirement}))
            .replace("{WHEELS!r}", repr(str(ws.wheels)))
            .replace("{MODULE}", module)
        )
        own, uv, phases, modules = [], [], [], []
        rows: list[tuple[float, str]] = []
        for index in range(args.runs + 1):
            cache = ws.cold_cache(f"profile-{module}")
            env = ws.env(cache=cache, bytecode=True)
            profiled = "1" if index == args.runs else "0"
            out = python(code.replace("sys.argv[1]", repr(profiled)), env=env)[1]
            mine, theirs, marks, found, loaded = eval(out)  # our own child's repr
            if profiled == "1":
                rows = found
            elif index:  # the first run compiled the config
                own.append(mine)
                uv.append(theirs)
                phases.append(marks)
                modules = loaded
        raw = []
        for _ in range(args.runs):
            target = ws.fresh("profile-raw")
            run_argv = ws.uv_argv(requirement, target)
            run(run_argv, env=ws.env())
            use = RAW.replace("{MODULE}", module)
            raw.append(float(run([sys.executable, "-c", use, str(target)], env=ws.env())[1]))
        ws.clean_scratch()
        print(f"\n{requirement} (medians of {len(own)} runs, CPU ms)")
        print(
            f"  lazyext process: {statistics.median(own):.1f}; its uv: {statistics.median(uv):.1f}"
        )
        print(f"  raw: the importing process {statistics.median(raw):.1f}")
        split = [statistics.median(p[i] for p in phases) for i in range(3)]
        print(
            f"  lazyext phases: import lazyext {split[0]:.1f}, activate {split[1]:.1f}, "
            f"import {module} (install + publish + activate + import) {split[2]:.1f}"
        )
        print("  cumulative CPU by function, one profiled run (profiler overhead included):")
        for cumulative, name in rows:
            if any(part in name for part in INTERESTING):
                print(f"  {cumulative:7.1f} ms  {name}")
        heavy = ("subprocess", "json", "re", "contextlib", "filelock", "typing", "logging")
        print("  loaded of", heavy, ":", [m for m in heavy if m in modules])
    return 0


if __name__ == "__main__":
    sys.exit(main())
