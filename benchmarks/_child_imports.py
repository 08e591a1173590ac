"""B2's child: time stdlib imports and failing imports in one configured process.

``python _child_imports.py MODE N SPEC`` with MODE ``base`` (no lazyext), ``lazyext``
(N extensions active and imported) or ``naive`` (the same N installs, one ``sys.path``
entry each); SPEC is the JSON file the harness wrote. ``probe`` as MODE prints the
stdlib modules that lazyext mode leaves loaded and the candidates that import here.
Prints one JSON line. The garbage collector is off while timing, in every mode.
"""

import gc
import json
import sys
import time


def setup(mode, count, spec):
    modules = spec["modules"][:count]
    if mode == "lazyext":
        import lazyext

        config = dict(zip(modules, spec["requirements"][:count], strict=True))
        lazyext.activate(config, find_links=spec["find_links"], no_index=True)
    elif mode == "naive":
        sys.path.extend(spec["targets"][:count])
    elif mode != "base":
        raise SystemExit(f"unknown mode {mode!r}")
    for module in modules if mode != "base" else ():
        __import__(module)


def probe(spec):
    before = set(sys.modules)
    setup("lazyext", len(spec["modules"]), spec)
    loaded = set(sys.modules) - before
    stdlib = sys.stdlib_module_names
    preload = sorted(name for name in loaded if name.partition(".")[0] in stdlib)
    candidates = []
    for name in spec["candidates"]:
        if name in sys.modules:
            continue
        try:
            __import__(name)
        except Exception:
            continue
        candidates.append(name)
    print(json.dumps({"preload": preload, "stdlib": candidates}))


def main():
    mode, count, spec_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(spec_file, encoding="utf-8") as handle:
        spec = json.load(handle)
    if mode == "probe":
        probe(spec)
        return
    setup(mode, count, spec)
    for name in spec["preload"]:
        __import__(name)
    gc.disable()
    clock = time.perf_counter_ns
    started = clock()
    for name in spec["stdlib"]:
        __import__(name)
    stdlib_ns = clock() - started
    rounds = []
    for _ in range(spec["rounds"]):
        started = clock()
        for name in spec["missing"]:
            try:
                __import__(name)
            except ImportError:
                pass
        rounds.append(clock() - started)
    rounds.sort()
    print(json.dumps({"stdlib_ns": stdlib_ns, "failing_ns": rounds[len(rounds) // 2]}))


main()
