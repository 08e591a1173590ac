"""The web package's shape: no import cycles, imports at module level, short modules.

Read from the source (AST), so the graph counts every import: at module level, under
``TYPE_CHECKING`` and inside functions. ``from lazyext.web import _ids`` is an import
of ``lazyext.web._ids``, not of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import lazyext

WEB: Final = Path(lazyext.__file__).parent / "web"
#: Imports of lazyext's own modules that stay inside a function, and why.
INSIDE_FUNCTIONS: Final[set[tuple[str, str]]] = set()


def _module(path: Path) -> str:
    return "lazyext.web" if path.stem == "__init__" else f"lazyext.web.{path.stem}"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """``(imported module, inside a function)`` for each of lazyext's own imports."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, nested) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for alias in child.names:
                    submodule = f"{child.module}.{alias.name}"
                    is_module = (WEB / f"{alias.name}.py").is_file()
                    named = submodule if child.module == "lazyext.web" and is_module else None
                    found.append((named or child.module, nested))
            visit(child, nested)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return [(name, inside) for name, inside in found if name.split(".")[0] == "lazyext"]


def _graph() -> dict[str, set[str]]:
    modules = {_module(path): path for path in WEB.glob("*.py")}
    return {
        name: {imported for imported, _ in _imports(path) if imported in modules} - {name}
        for name, path in modules.items()
    }


def _cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    stack = [(start, [start])]
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph[node]):
            if nxt == start:
                return [*path, start]
            if nxt not in path:
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_web_module_imports_another_in_a_cycle() -> None:
    graph = _graph()
    assert "lazyext.web._errors" in graph["lazyext.web._tasks"]  # the walk sees imports
    cycles = [cycle for name in sorted(graph) if (cycle := _cycle_from(graph, name))]
    assert not cycles, cycles


def test_lazyext_modules_are_imported_at_module_level() -> None:
    inside = {
        (path.stem, name) for path in WEB.glob("*.py") for name, nested in _imports(path) if nested
    }
    assert inside == INSIDE_FUNCTIONS


def test_every_web_module_is_at_most_400_lines() -> None:
    lengths = {
        path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in WEB.glob("*.py")
    }
    assert max(lengths.values()) <= 400, lengths
