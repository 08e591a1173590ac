"""Where the documentation's examples run: a user's machine, offline.

* **A clean environment.** The test venv has PyYAML, rich and pygments (through the test
  tools), and a host that already has a package serves it: the examples would prove
  nothing. So the examples run in a venv of their own (``--without-pip``) that holds
  lazyext and the closure of ``lazyext[web]`` only, linked from the test venv, with a
  ``lazyext`` command.
* **An index that needs no network.** ``UV_INDEX_URL`` names a PEP 503 index in a local
  directory (``file://``), which lazyext reads as its ``index-url``: the documented
  requirements (``PyYAML>=6``, ``rich>=14``, ``pygments<2.10``) resolve against small
  wheels built here as the suite builds its own (``support.Wheelhouse``), with the real projects'
  names, versions and dependency ranges.
* **A user's home.** Each block runs in ``<tmp>/home/me/app`` with ``HOME`` at
  ``<tmp>/home/me``, so the default cache and data directories are the documented ones,
  and output is compared after ``<tmp>`` is removed (``/home/me/app/lazyext.toml``).
* **pip, offline.** ``pip install ...`` in a shell block runs ``uv pip install --dry-run
  --offline --no-deps``: what a checkout provides installs, a name that is on no index
  this machine reaches (``pip install lazyext``) fails, as it does for a user.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from docblocks import REPO, Block
from support import Wheelhouse

#: Distributions of the documentation's index: the real projects' names, versions and
#: dependency ranges (rich 14 needs pygments>=2.13), tiny contents.
WHEELS: tuple[tuple[str, str, dict[str, str], tuple[str, ...]], ...] = (
    (
        "PyYAML",
        "6.0.3",
        {
            "yaml/__init__.py": textwrap.dedent(
                '''\
                """A stand-in for PyYAML: ``key: value`` lines only."""
                __version__ = "6.0.3"
                _WORDS = {"true": True, "false": False, "null": None}


                def safe_load(stream):
                    text = stream if isinstance(stream, str) else stream.read()
                    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
                    return {k.strip(): _WORDS.get(v.strip(), v.strip()) for k, v in pairs}
                '''
            )
        },
        (),
    ),
    # rich 13.0 accepted pygments 2.6; 13.3.2 and later need 2.13 (so `rich>=13` with
    # `pygments<2.10` resolves, to rich 13.0: the README's old conflict was none).
    (
        "rich",
        "13.0.0",
        {"rich/__init__.py": "from builtins import print\n"},
        ("pygments>=2.6.0,<3.0.0",),
    ),
    (
        "rich",
        "14.2.0",
        {"rich/__init__.py": "from builtins import print\n"},
        ("pygments>=2.13.0,<3.0.0",),
    ),
    ("pygments", "2.9.0", {"pygments/__init__.py": "__version__ = '2.9.0'\n"}, ()),
    ("pygments", "2.19.2", {"pygments/__init__.py": "__version__ = '2.19.2'\n"}, ()),
)

_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "TERM")


@dataclass(frozen=True)
class Sandbox:
    """What every block's run shares: the clean venv, the index, uv's cache."""

    root: Path
    python: Path
    bin: Path
    index_url: str
    uv_cache: str


def make_sandbox(root: Path, uv_cache: str) -> Sandbox:
    root.mkdir(parents=True, exist_ok=True)
    python = _clean_venv(root / "venv")
    index = _index(root / "index")
    shims = root / "shims"
    shims.mkdir()
    _write_pip_shim(shims / "pip", python)
    return Sandbox(root, python, python.parent, index.as_uri(), uv_cache)


def _clean_venv(venv: Path) -> Path:
    """A venv with lazyext[web]'s closure linked in from this one, and nothing else."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    from importlib import metadata

    for name in _closure("lazyext", {"web"}):
        dist = metadata.distribution(name)
        origin = Path(str(dist.locate_file("")))
        tops = {path.parts[0] for path in dist.files or () if path.parts[0] != ".."}
        for top in tops:
            target = site / top
            if (origin / top).exists() and not target.exists():
                target.symlink_to(origin / top)
        for path in dist.files or ():
            if path.parts[0] == ".." and path.name in {"uv", "uvx"}:  # the uv binary
                (venv / "bin" / path.name).symlink_to(Path(str(dist.locate_file(path))))
    command = venv / "bin" / "lazyext"
    command.write_text(
        f"#!{python}\nimport sys\nfrom lazyext.cli import main\nsys.exit(main())\n",
        encoding="utf-8",
    )
    command.chmod(0o755)
    return python


def _closure(name: str, extras: set[str]) -> set[str]:
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [(name, extras)]
    while todo:
        current, wanted = todo.pop()
        dist = metadata.distribution(current)
        key = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        if key in seen:
            continue
        seen.add(key)
        for text in dist.requires or ():
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in wanted or {""}):
                todo.append((requirement.name, set(requirement.extras)))
    return seen


def _index(root: Path) -> Path:
    """A PEP 503 index in a directory: ``simple/<name>/index.html`` and the wheels."""
    simple = root / "simple"
    names = []
    for name, version, files, requires in WHEELS:
        normalized = re.sub(r"[-_.]+", "-", name).lower()
        project = simple / normalized
        Wheelhouse(project).build(name, version, files, requires=requires)
        links = "".join(
            f'<a href="{wheel.name}#sha256={hashlib.sha256(wheel.read_bytes()).hexdigest()}">'
            f"{wheel.name}</a>\n"
            for wheel in sorted(project.glob("*.whl"))
        )
        (project / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")
        names.append(normalized)
    listing = "".join(f'<a href="{name}/">{name}</a>\n' for name in sorted(set(names)))
    (simple / "index.html").write_text(f"<html><body>\n{listing}</body></html>\n")
    return simple


def _write_pip_shim(path: Path, python: Path) -> None:
    import uv

    path.write_text(
        "#!/bin/sh\n"
        "# pip for the docs tests: what would install offline, changing nothing.\n"
        '[ "$1" = install ] || { echo "docs tests: only pip install is simulated" >&2; exit 2; }\n'
        "shift\n"
        f'exec "{uv.find_uv_bin()}" pip install --dry-run --offline --no-deps '
        f'--python "{python}" "$@"\n',
        encoding="utf-8",
    )
    path.chmod(0o755)


class Project:
    """One block's run: a home, an app directory, the files of its page so far."""

    def __init__(self, sandbox: Sandbox, tmp: Path) -> None:
        self.sandbox = sandbox
        self.tmp = tmp
        self.home = tmp / "home" / "me"
        self.app = self.home / "app"
        self.app.mkdir(parents=True)
        for path in (tmp, tmp / "home", self.home, self.app):
            path.chmod(0o700)
        env = {key: os.environ[key] for key in _KEEP_ENV if key in os.environ}
        env.update(
            HOME=str(self.home),
            PATH=os.pathsep.join(
                [
                    str(sandbox.bin),
                    str(sandbox.root / "shims"),
                    "/usr/local/bin",
                    "/usr/bin",
                    "/bin",
                ]
            ),
            UV_CACHE_DIR=sandbox.uv_cache,
            UV_INDEX_URL=sandbox.index_url,
            COLUMNS="100",
            # Off a terminal an install longer than half a second says so on stderr
            # (issue 25 item 5): a matter of timing, which transcripts do not show.
            LAZYEXT_PROGRESS="0",
        )
        self.env = env

    def write(self, block: Block) -> None:
        assert block.file is not None
        target = self.app / block.file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text, encoding="utf-8")

    def run(
        self, args: list[str], *, cwd: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            args,
            cwd=cwd or self.app,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        result.stdout = self.normalize(result.stdout)
        return result

    def normalize(self, text: str) -> str:
        return text.replace(str(self.tmp), "")

    def python(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        # In the app directory, as a user runs a program: its modules import.
        script = self.app / "example.py"
        script.write_text(code, encoding="utf-8")
        return self.run([str(self.sandbox.python), str(script), *args])


# --- checks, one per kind of block ---------------------------------------------------


def check(block: Block, project: Project) -> None:
    """Run ``block`` in ``project`` (its page's earlier files already written)."""
    kind = block.kind
    if kind == "python":
        for attempt in ("first", "second"):  # a program is run more than once
            result = project.python(block.text)
            assert result.returncode == 0, f"{attempt} run failed:\n{result.stdout}"
    elif kind == "file":
        _check_file(block, project)
    elif kind == "toml":
        _validate_toml(block.text, project)
    elif kind == "sh":
        cwd = REPO if block.directives.get("cwd") == "checkout" else None
        result = project.run(["sh", "-eu", "-c", block.text], cwd=cwd)
        assert result.returncode == 0, result.stdout
    elif kind == "console":
        _check_console(block.text, project)
    elif kind == "json":
        json.loads(block.text)
    elif kind == "signatures":
        result = project.python(_SIGNATURES, block.directives["signatures"], block.text)
        assert result.returncode == 0, result.stdout
    else:
        raise AssertionError(
            f"a {block.lang} block cannot run here: run it, or mark it `# not run: <reason>`"
        )


def _check_file(block: Block, project: Project) -> None:
    if block.lang == "python":
        compile(block.text, block.file or "<block>", "exec")
    elif block.file in {"lazyext.toml", "pyproject.toml"}:
        _validate_toml(block.text, project, name=block.file)
    elif block.lang == "toml":
        import tomllib

        tomllib.loads(block.text)


def _validate_toml(text: str, project: Project, name: str | None = None) -> None:
    name = name or ("pyproject.toml" if "[tool.lazyext]" in text else "lazyext.toml")
    path = project.app / name
    path.write_text(text, encoding="utf-8")
    result = project.python(_VALIDATE, str(path))
    assert result.returncode == 0, result.stdout


# Every table of the config, through the public constructors that validate it.
_VALIDATE = textwrap.dedent(
    """\
    import os, sys, tomllib
    import lazyext

    path = sys.argv[1]
    with open(path, "rb") as handle:
        document = tomllib.load(handle)
    if os.path.basename(path) == "pyproject.toml":
        document = document["tool"]["lazyext"]
    config = lazyext.activate(path)
    if "plugins" in document:
        with lazyext.PluginManager(config=path):
            pass
    if "maintenance" in document:
        lazyext.TaskManager(config=path, maintenance=True)
    if "tasks" in document:
        from lazyext.tasks import _declared

        _declared.directory_of(config)
    if "web" in document:
        token_file = document["web"].get("token-file")
        if token_file:  # the example names a file its reader creates
            token_path = os.path.join(os.path.dirname(path), os.path.expanduser(token_file))
            if not os.path.exists(token_path):
                with open(token_path, "w") as handle:
                    handle.write("a-token-of-the-docs-tests-32-chars\\n")
        import lazyext.web

        lazyext.web.create_app(path)
    """
)

# The documented signatures against the real ones: names, kinds, defaults.
_SIGNATURES = textwrap.dedent(
    """\
    import ast, importlib, inspect, sys

    module = importlib.import_module(sys.argv[1])
    tree = ast.parse(sys.argv[2])
    KINDS = inspect.Parameter

    def documented(node):
        a = node.args
        positional = a.posonlyargs + a.args
        defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
        params = [(p.arg, KINDS.POSITIONAL_ONLY, d) for p, d in zip(a.posonlyargs, defaults)]
        params += [
            (p.arg, KINDS.POSITIONAL_OR_KEYWORD, d)
            for p, d in zip(a.args, defaults[len(a.posonlyargs):])
        ]
        if a.vararg:
            params.append((a.vararg.arg, KINDS.VAR_POSITIONAL, None))
        params += [(p.arg, KINDS.KEYWORD_ONLY, d) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
        if a.kwarg:
            params.append((a.kwarg.arg, KINDS.VAR_KEYWORD, None))
        return params

    def same_default(node, real):
        if node is None:
            return real is KINDS.empty
        try:
            return ast.literal_eval(node) == real
        except ValueError:
            return ast.unparse(node) == repr(real)

    problems = []

    def compare(node, owner, where):
        want = documented(node)
        if node.name == "__init__":  # the class's own signature, without self
            real, want = inspect.signature(owner), want[1:]
        else:
            real = inspect.signature(getattr(owner, node.name))
        got = [(p.name, p.kind, p.default) for p in real.parameters.values()]
        if [(n, k) for n, k, _ in want] != [(n, k) for n, k, _ in got]:
            problems.append(f"{where}{node.name}: documented {ast.unparse(node.args)!r}, "
                            f"real {real}")
            return
        for (name, _, doc), (_, _, default) in zip(want, got):
            if not same_default(doc, default):
                problems.append(f"{where}{node.name}: {name} defaults to {default!r}")

    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            compare(node, module, f"{module.__name__}.")
        elif isinstance(node, ast.ClassDef):
            owner = getattr(module, node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    compare(item, owner, f"{module.__name__}.{node.name}.")
    if problems:
        sys.exit("\\n".join(problems))
    """
)


# --- transcripts -----------------------------------------------------------------------

_TOKEN = re.compile(
    r"(?P<ellipsis>\.\.\.)"
    r"|(?P<space>\s+)"
    r"|(?P<size>\b\d+(?:\.\d+)? (?:B|KiB|MiB|GiB)\b)"
    r"|(?P<time>\b\d+(?:\.\d+)? (?:ms|s)\b)"
    r"|(?P<tag>\bcp3\d+-[\w.]+-[\w.]+)"
)
_REPLACEMENT = {
    "ellipsis": ".*?",
    "space": r"\s+",
    "size": r"\d+(?:\.\d+)? (?:B|KiB|MiB|GiB)",
    "time": r"\d+(?:\.\d+)? (?:ms|s)",
    "tag": r"\S+",
}


def line_pattern(expected: str) -> re.Pattern[str]:
    """A transcript line as a pattern: ``...`` is anything; column spacing, sizes,
    durations and platform tags may differ; everything else is literal."""
    parts, last = [], 0
    for match in _TOKEN.finditer(expected):
        parts.append(re.escape(expected[last : match.start()]))
        parts.append(_REPLACEMENT[match.lastgroup or ""])
        last = match.end()
    parts.append(re.escape(expected[last:]))
    return re.compile("".join(parts))


def matches(expected: list[str], actual: list[str]) -> bool:
    """Every expected line matches its actual line; a line ``...`` alone matches any
    number of lines."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head.strip() == "...":
        return any(matches(rest, actual[skip:]) for skip in range(len(actual) + 1))
    return (
        bool(actual) and bool(line_pattern(head).fullmatch(actual[0])) and matches(rest, actual[1:])
    )


def parse_transcript(text: str) -> list[tuple[str, list[str]]]:
    """``$ command`` lines, each with the output lines that follow it."""
    steps: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line.rstrip())
        elif line.strip():
            raise AssertionError(f"a transcript starts with a `$ ` command, not {line!r}")
    return steps


def _check_console(text: str, project: Project) -> None:
    for command, expected in parse_transcript(text):
        result = project.run(["sh", "-c", command])
        actual = [line.rstrip() for line in result.stdout.splitlines()]
        assert result.returncode == 0, f"$ {command}\n{result.stdout}"
        assert matches(expected, actual), (
            f"$ {command}\nexpected:\n" + "\n".join(expected) + "\nactual:\n" + "\n".join(actual)
        )
