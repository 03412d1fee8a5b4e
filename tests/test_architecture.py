"""The package's shape, read from its source (nothing imported): imports run one way, with no cycle and no
import of the package inside a function, and no function is longer than a reader holds at once."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "mdsrec_pyg"
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(name: str, is_package: bool, node: ast.ImportFrom, modules: set[str]) -> set[str]:
    """The package's modules that ``node`` (in module ``name``) imports."""
    if node.level == 0:
        base = node.module or ""
    else:
        parts = name.split(".") if is_package else name.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    return {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names} & modules


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """Each module's imports of the package's modules, and the imports made inside a function."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in paths}
    inside: list[str] = []
    for name, path in paths.items():
        tree = ast.parse(path.read_text())
        functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        in_function = {id(node): f.name for f in functions for node in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                targets = imported(name, path.name == "__init__.py", node, set(paths)) - {name}
            elif isinstance(node, ast.Import):
                targets = {a.name for a in node.names} & set(paths)
            else:
                continue
            function = in_function.get(id(node))
            if targets and function is not None and function != "__getattr__":  # a package's lazy attribute
                inside.append(f"{path.relative_to(ROOT)}:{node.lineno} in {function}")
            edges[name] |= targets
    return edges, inside


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of imports, as the modules along it, or None; a package importing its own submodules (and
    they it) is not counted: that is how a package exposes its parts."""

    def counted(a: str, b: str) -> bool:
        return not (b.startswith(a + ".") or a.startswith(b + "."))

    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(edges[module]):
            if not counted(module, target):
                continue
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(edges):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    planted = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p": {"p.a"}}
    assert cycle(planted) == ["p.a", "p.b", "p.c", "p.a"]
    assert cycle({"p": {"p.a"}, "p.a": {"p"}}) is None  # a package and its own module
    assert cycle({"p.a": {"p.b"}, "p.b": set()}) is None


def test_imports_run_one_way():
    edges, inside = import_graph()
    assert len(edges) > 30  # the walk saw the package
    assert cycle(edges) is None, " -> ".join(cycle(edges) or [])
    assert inside == []  # no import inside a function, so none that dodges a cycle


def test_the_settings_are_a_leaf():
    edges, _ = import_graph()
    assert edges["mdsrec_pyg.config"] <= {"mdsrec_pyg.errors", "mdsrec_pyg.names"}
    assert edges["mdsrec_pyg.names"] <= {"mdsrec_pyg.errors"}


def test_no_function_is_longer_than_a_reader_holds():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.name} ({length} lines)")
    assert long == []
