"""The demo: lazyext's main job, offline, on wheels it builds itself.

``python -m lazyext.demo`` builds three tiny wheels (one with a dependency, one with a
``.pth`` file), writes a ``lazyext.toml`` that points ``find-links`` at them with
``no-index``, then runs two fresh Python processes that import them: the first finds
the cache empty and installs with uv, the second finds everything cached.

Why this is in the runtime wheel: it is the first thing to run after installing
lazyext (README, ``tools/demo.sh``), from the installed package, with no checkout and
no network, and it builds its wheels with :mod:`lazyext._wheels`. Nothing else in
lazyext imports either module (``tests/meta/test_layout.py``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from lazyext._wheels import build_wheel

CONFIG = """\
find-links = ["wheels"]
no-index = true
ttl-hours = 24

[[extensions]]
name = "greeting"
package = "demo-greeting>=1.0"

[[extensions]]
name = "colors"
package = "demo-colors~=2.0"
modules = ["colors"]

[[extensions]]
name = "pathy"
package = "demo-pathy==0.3"
"""

PROGRAM = """\
import time
started = time.perf_counter()
import lazyext
lazyext.activate()
import greeting, colors, pathy
elapsed = time.perf_counter() - started
import importlib.metadata as md
print(greeting.hello("lazyext"), "|", colors.paint("cached", "green"), "|", pathy.where())
versions = [md.version(d) for d in ("demo-greeting", "demo-colors", "demo-words")]
print("  versions:", *versions)
print(f"  import of 3 extensions took {elapsed * 1000:.1f} ms")
"""


def build_wheels(directory: Path) -> None:
    build_wheel(directory, "demo-words", "1.2", {"demo_words/__init__.py": "WORDS = ['Hello']\n"})
    build_wheel(
        directory,
        "demo-greeting",
        "1.0",
        {
            "greeting/__init__.py": "from demo_words import WORDS\n"
            "def hello(name):\n    return f'{WORDS[0]}, {name}!'\n"
        },
        requires=["demo-words>=1"],
    )
    build_wheel(
        directory,
        "demo-colors",
        "2.1",
        {
            "colors/__init__.py": "CODES = {'green': 32}\n"
            "def paint(text, color):\n    return f'\\x1b[{CODES[color]}m{text}\\x1b[0m'\n"
        },
    )
    build_wheel(
        directory,
        "demo-pathy",
        "0.3",
        {
            "pathy/__init__.py": (
                "def where():\n    import pathy_extra\n    return pathy_extra.WHERE\n"
            ),
            "pathy_lib/pathy_extra.py": "WHERE = 'found through a .pth path line'\n",
            "demo_pathy.pth": "pathy_lib\n",
        },
    )


#: Written into the work directory first: only a directory holding it is ever wiped.
MARKER = ".lazyext-demo"


def run(workdir: Path) -> int:
    if workdir.is_dir() and any(workdir.iterdir()) and not (workdir / MARKER).is_file():
        print(
            f"demo: {workdir} is not empty and is not a demo directory; the demo empties its "
            "directory first, so pass a new or empty one (or omit --dir)",
            file=sys.stderr,
        )
        return 2
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    os.chmod(workdir, 0o700)
    (workdir / MARKER).touch()
    build_wheels(workdir / "wheels")
    (workdir / "lazyext.toml").write_text(CONFIG, encoding="utf-8")
    (workdir / "app.py").write_text(PROGRAM, encoding="utf-8")
    env = dict(os.environ, LAZYEXT_CACHE_DIR=str(workdir / "cache"))
    env.pop("LAZYEXT_CONFIG", None)
    print(f"demo directory: {workdir}")
    print(textwrap.indent(CONFIG, "  | "))
    for label in ("cold (empty cache: uv installs)", "warm (new process, cached)"):
        print(f"{label}:")
        result = subprocess.run([sys.executable, "app.py"], cwd=workdir, env=env, check=False)
        if result.returncode != 0:
            print(f"demo failed: exit status {result.returncode}", file=sys.stderr)
            return 1
    status = subprocess.run(
        [sys.executable, "-m", "lazyext", "status"], cwd=workdir, env=env, check=False
    )
    return status.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lazyext.demo", description=__doc__)
    parser.add_argument("--dir", type=Path, help="work directory (default: a new temporary one)")
    args = parser.parse_args(argv)
    if args.dir is not None:
        return run(args.dir.absolute())
    with tempfile.TemporaryDirectory(prefix="lazyext-demo-") as temporary:
        return run(Path(temporary) / "demo")


if __name__ == "__main__":
    sys.exit(main())
