"""The package's shape: no import circle, the engine never imports the harness, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pgback"
MAX_LINES = 450
HARNESS = ("pgback.scenario", "pgback.testbed", "pgback.bench")
# the program's entry point is the one door to both: `run-scenario` loads the harness
ENTRY_POINTS = ("pgback.main",)
TEST_ONLY = ("pytest", "testcontainers", "freezegun", "moto", "yaml")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module this one imports, lazily or not; `if TYPE_CHECKING:` blocks excluded."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {m for m in imports_of(path) if m in modules and m != name}
        for name, path in modules.items()
    }


def test_structure_no_import_circle_in_the_package() -> None:
    edges = graph()
    # a module's package __init__ importing its submodules is not a circle through them
    for name in edges:
        edges[name] = {m for m in edges[name] if not name.startswith(m + ".")}
    circles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                circles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert circles == [], "\n".join(" -> ".join(c) for c in circles)


def test_structure_engine_never_imports_the_harness_or_test_tools() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if name.startswith(HARNESS) or name in ENTRY_POINTS:
            continue
        for imported in imports_of(path):
            if imported.startswith(HARNESS) or imported.split(".")[0] in TEST_ONLY:
                offenders.append(f"{name} imports {imported}")
    assert offenders == []


def test_structure_no_module_over_the_line_limit() -> None:
    long = {
        module_name(p): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
