"""The codebase's shape, read from its source: imports run one way with no circle (function-local
imports too), the model core knows nothing of Django, and modules stay small."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "web", "trainer")
MOST_LINES = 400


def project_modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the project's packages (migrations aside)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def imported_names(path: Path, module: str) -> Iterator[str]:
    """Every module an import anywhere in the file names (inside functions and TYPE_CHECKING
    blocks too): for ``from a.b import c`` both ``a.b`` and ``a.b.c``, since c may be a module."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_names(path, name):
            # The deepest project module the name reaches: ``api.tagging.services.x`` -> the module.
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)
        graph[name] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_of_the_project_imports_another_that_imports_it_back() -> None:
    assert circles(import_graph()) == []


def test_the_circle_finder_finds_a_circle_through_a_function_local_import(tmp_path: Path) -> None:
    (tmp_path / "one.py").write_text("import two\n")
    (tmp_path / "two.py").write_text("def later():\n    from three import thing\n")
    graph = {
        name: set(imported_names(tmp_path / f"{name}.py", name)) & {"one", "two", "three"}
        for name in ("one", "two")
    }
    graph["three"] = {"one"}

    assert circles(graph) == [["one", "three", "two"]]


def test_a_relative_import_is_read_as_the_module_it_names(tmp_path: Path) -> None:
    (tmp_path / "services.py").write_text("from .models import Photo\nfrom . import storage\n")

    assert set(imported_names(tmp_path / "services.py", "api.photos.services")) >= {
        "api.photos.models",
        "api.photos.storage",
    }


@pytest.mark.parametrize(
    ("package", "never"),
    [
        ("trainer", ("django", "rest_framework", "celery", "api", "web")),
        ("api", ("web",)),
    ],
)
def test_imports_run_one_way_web_then_api_then_trainer(package: str, never: tuple[str, ...]) -> None:
    modules = project_modules()
    offenders = sorted(
        f"{name} imports {imported}"
        for name, path in modules.items()
        if name.split(".")[0] == package
        for imported in imported_names(path, name)
        if imported.split(".")[0] in never
    )

    assert offenders == []


def test_every_module_of_the_project_stays_under_400_lines() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in project_modules().items()}

    assert {name: n for name, n in sizes.items() if n > MOST_LINES} == {}


def test_nothing_cites_a_design_file_the_repository_does_not_contain() -> None:
    tracked = [
        path
        for folder in (*PACKAGES, "tests", "bench", "scripts", "docs", "docker")
        for path in (REPO / folder).rglob("*")
        if path.suffix in {".py", ".md", ".html", ".yml", ".sh"} and path != Path(__file__)
    ]
    citing = sorted(
        str(path.relative_to(REPO))
        for path in [*tracked, REPO / "README.md"]
        if "DESIGN.md" in path.read_text()
    )

    assert citing == []
