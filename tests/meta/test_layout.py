"""The shape of the package: stages as subpackages, no import cycles, no upward imports.

Read from the source with ``ast``: every ``import`` counts, at module level and inside
functions; only those under ``if TYPE_CHECKING:`` (annotations, never run) do not.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SOURCE / "lazyext"

#: Each stage and wing of lazyext, bottom first: a module imports only from its own
#: layer and those below it (DESIGN.md, "The data flow").
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_errors", "_record", "_columns", "_jsontext", "_trust", "_version"),
    ("_settings",),
    ("_log", "_state", "_events"),
    ("_uv",),
    ("_store",),
    ("_env",),
    ("_importer",),
    ("_api", "_use", "_report", "_pack"),
    ("_registry", "_run"),
    ("plugins", "tasks", "integrations", "_wheels", "demo"),
    ("web",),
    ("cli",),
    ("lazyext", "__main__"),
)
#: The style's limit is 400 lines; 450 is the hard one (a module past 400 says why).
MAX_LINES = 450
MAX_TOP_LEVEL = 20


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(SOURCE).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _runtime_nodes(node: ast.AST) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            for other in child.orelse:
                yield other
                yield from _runtime_nodes(other)
            continue
        yield child
        yield from _runtime_nodes(child)


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The lazyext modules ``name`` imports when it runs."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            # A submodule by its name, a name defined in a package by the package.
            targets = [f"{base}.{alias.name}" for alias in node.names]
        for imported in targets:
            target = imported
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)  # a package above it too: its __init__ runs first
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else parts[0]
    for rank, names in enumerate(LAYERS):
        if key in names:
            return rank
    raise AssertionError(f"{module}: in no layer of tests/meta/test_layout.py")


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on.add(node)
        for other in edges[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10000))
    try:
        for node in edges:
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_no_module_imports_another_in_a_cycle() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_nothing_imports_from_a_layer_above() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in graph().items()
        for target in targets
        if layer(target) > layer(module)
    )
    assert upward == []


def test_every_module_is_in_a_layer() -> None:
    for module in modules():
        layer(module)


def test_the_top_level_is_small() -> None:
    top = [path.name for path in PACKAGE.glob("*.py")]
    assert len(top) <= MAX_TOP_LEVEL, sorted(top)


@pytest.mark.parametrize("module", sorted(modules()))
def test_no_module_is_too_long(module: str) -> None:
    path = modules()[module]
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines"


def test_the_demo_and_its_wheel_builder_stay_out_of_the_runtime() -> None:
    """``lazyext.demo`` and ``lazyext._wheels`` ship in the wheel for ``python -m
    lazyext.demo`` alone (their docstrings say why): nothing else imports them."""
    edges = graph()
    users = sorted(
        module
        for module, imported in edges.items()
        if imported & {"lazyext.demo", "lazyext._wheels"} and module != "lazyext.demo"
    )
    assert users == []
