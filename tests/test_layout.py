"""The package's layout holds: one folder per stage, each saying what it guarantees; no import cycles between
modules; no module too long to read; benchmarks and sample generators outside the runtime package."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "pipelines"
STAGES = ("core", "ingest", "formats", "validate", "match", "breaks", "clearing", "publish", "catalog", "run", "cli")
MAX_LINES = 700


def _module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports, at its top or inside a function (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE.name:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py").exists()
                out.add(candidate if is_module else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE.name}
    return out


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for imported in _imports(path):
            # importing a.b.c imports the packages a and a.b first (a module's own packages are already being
            # imported when it is: a package that imports its submodules is not a cycle by that alone)
            parts = imported.split(".")
            implied = {".".join(parts[: i + 1]) for i in range(1, len(parts) - 1)} - _packages_of(name)
            deps |= ({imported} | implied) & modules.keys()
        graph[name] = deps - {name}
    return graph


def _packages_of(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_import_cycles_between_modules() -> None:
    graph = _graph()
    assert "pipelines.core.channels" in graph and "pipelines.formats.registry" in graph["pipelines.core.channels"]
    assert _cycles(graph) == []


def test_the_old_cycle_through_a_package_is_found() -> None:
    """channels imported the formats package, whose __init__ imported formats.base, which imported channels."""
    graph = {
        "pipelines.channels": {"pipelines.formats"},
        "pipelines.formats": {"pipelines.formats.base"},
        "pipelines.formats.base": {"pipelines.channels"},
    }
    assert _cycles(graph) == [
        ["pipelines.channels", "pipelines.formats", "pipelines.formats.base", "pipelines.channels"]
    ]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_every_stage_folder_says_what_it_guarantees() -> None:
    for stage in STAGES:
        init = PACKAGE / stage / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 80, f"{init} has no docstring saying what the stage guarantees"


def test_no_module_is_too_long_to_read() -> None:
    roots = [PACKAGE, PROJECT_ROOT / "bench", PROJECT_ROOT / "samplegen"]
    long = {
        str(p.relative_to(PROJECT_ROOT)): n
        for r in roots
        for p in r.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_benchmarks_and_generators_are_outside_the_runtime_package() -> None:
    names = {p.stem for p in PACKAGE.rglob("*.py")}
    assert not {n for n in names if n.startswith("bench") or n in ("samples", "scenario")}
    runtime_imports = {i for p in PACKAGE.rglob("*.py") for i in _imports_anywhere(p)}
    assert not {i for i in runtime_imports if i.split(".")[0] in ("bench", "samplegen")}


def _imports_anywhere(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out
