"""The layout keeps its promises: the core is pure, the rooms depend one way, no import cycles.

Imports are read from the source (ast), wherever they stand — module level or inside a function
— except under ``if TYPE_CHECKING:``, which never runs. See docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STREAMS = ROOT / "streams"

# What the pure rooms may never import: I/O of any kind, and the rooms above them.
IMPURE = (
    "faust",
    "mode",
    "aiokafka",
    "kafka",
    "clickhouse_connect",
    "chdb",
    "aiohttp",
    "httpx",
    "requests",
    "urllib",
    "http",
    "socket",
    "os",
    "io",
    "pathlib",
    "shutil",
    "tempfile",
    "subprocess",
    "sinks",
    "streams.runtime",
    "streams.tools",
    "streams.web",
    "streams.app",
    "streams.cli",
    "streams.settings",  # reads the environment
)
# Room → rooms it must not import (the arrows of docs/architecture.md point the other way).
FORBIDDEN = {
    "streams.core": IMPURE,
    "streams.detectors": IMPURE,
    "streams.web": ("streams.runtime", "streams.tools", "streams.cli"),
    "streams.runtime": ("streams.tools", "streams.cli"),
}
# Pure modules inside a banned package: parsing text, no I/O.
PURE_EXCEPTIONS = ("urllib.parse",)
TOP_LEVEL_ALLOWED = {"__init__", "__main__", "app", "cli", "settings", "errors", "kafka_config"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(STREAMS.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> set[str]:
    """Every module name imported by the file at runtime (absolute imports; the project uses
    no relative ones)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for orelse in child.orelse:
                    visit(orelse)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                found.add(child.module)
                # ``from streams.core import engine`` imports the submodule too.
                found.update(f"{child.module}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_each_room_imports_only_what_its_layer_allows(room: str) -> None:
    problems = [
        f"{name} imports {imported}"
        for name, path in modules().items()
        if _under(name, room)
        for imported in sorted(imports_of(path))
        if any(_under(imported, banned) for banned in FORBIDDEN[room])
        and not any(_under(imported, pure) for pure in PURE_EXCEPTIONS)
    ]
    assert problems == []


def test_streams_has_only_a_handful_of_top_level_modules() -> None:
    top = {p.stem for p in STREAMS.glob("*.py")}
    assert top <= TOP_LEVEL_ALLOWED, sorted(top - TOP_LEVEL_ALLOWED)


def test_there_are_no_import_cycles() -> None:
    known = modules()
    graph = {
        name: sorted({imported for imported in imports_of(path) if imported in known} - {name})
        for name, path in known.items()
    }
    # A package importing its own submodules (an __init__ re-exporting them) is not a cycle
    # through the submodule: Python imports the package first.
    for name, targets in graph.items():
        graph[name] = [t for t in targets if not _under(name, t)]

    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in graph[node]:
            if state.get(target) == 1:
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_the_checks_see_a_violation() -> None:
    """The import reader finds imports inside functions and skips TYPE_CHECKING blocks."""
    source = STREAMS / "core" / "engine.py"
    found = imports_of(source)
    assert "streams.core.aggregate" in found
    assert "streams.settings" not in found  # imported only for type checking
    runtime = imports_of(STREAMS / "runtime" / "worker.py")
    assert "sinks.clickhouse" in runtime  # a function-level import
