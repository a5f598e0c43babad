"""The package layout's promises, checked on the import graph read from the source.

The README's "How the code is laid out" names the rules; this module keeps them true:

* no import cycle inside ``nmapx``, counting imports inside functions (lazy) and under
  ``TYPE_CHECKING`` alike: a cycle that only a lazy import hides is still a tangle;
* ``nmapx.nse`` is the script author's library: of the engine it imports only the
  script-thread context (:mod:`nmapx.engine.thread`), and nothing of ``output``, ``cli`` or the
  pipeline;
* the packages point one way: ``nmapxml``'s byte-level modules (scan, source, repair, escape)
  are leaves; ``model`` builds on them, and the reader (bytes to model pieces) on ``model``;
  neither knows anything of running scripts or writing outputs; ``output`` knows nothing of
  the engine or the CLI; nothing imports ``cli`` but ``__main__``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nmapx"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(tree: ast.AST, known: set[str]) -> Iterator[str]:
    """Every nmapx module ``tree`` imports, wherever the import statement is."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module not in known:
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                # ``from nmapx.nse import comm`` imports the package and the module comm.
                yield sub if sub in known else node.module


def ancestors(name: str) -> list[str]:
    """The subpackages whose ``__init__`` runs before ``name`` (``nmapx`` itself left out)."""
    parts = name.split(".")
    return [".".join(parts[:n]) for n in range(2, len(parts))]


def graph() -> dict[str, set[str]]:
    """Module -> the nmapx modules importing it runs, wherever the import statement is.

    Importing ``nmapx.nse.comm`` runs ``nmapx/nse/__init__.py`` first, so an import of a module
    is also an edge to each enclosing subpackage the importer is not inside. The root package
    is left out: every module is inside it, and its ``__init__`` is the public API on top.
    """
    found = modules()
    known = set(found)
    edges: dict[str, set[str]] = {}
    for name, path in found.items():
        tree = ast.parse(path.read_text(), str(path))
        targets = set()
        for other in imported(tree, known):
            targets.add(other)
            mine = {name, *ancestors(name)}
            targets.update(p for p in ancestors(other) if p not in mine)
        targets.discard(name)
        edges[name] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
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

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def package_of(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2])


def test_the_graph_is_read() -> None:
    edges = graph()
    assert "nmapx.nse.comm" in edges["nmapx.scripts.banner"]
    assert "nmapx.engine.thread" in edges["nmapx.nse.sockets"]


def test_no_import_cycle_lazy_imports_included() -> None:
    edges = graph()
    edges.pop("nmapx", None)
    assert cycles(edges) == []


def test_nse_imports_only_the_thread_context_of_the_engine() -> None:
    outside = {
        (name, other)
        for name, targets in graph().items()
        if name.startswith("nmapx.nse")
        for other in targets
        if not other.startswith(("nmapx.nse", "nmapx.model", "nmapx.nmapxml"))
        and other not in ("nmapx.engine", "nmapx.engine.thread")
    }
    assert outside == set()


def test_inner_packages_import_nothing() -> None:
    """Importing one module of a package runs that package's ``__init__``; these stay empty
    of imports so that the library can reach the thread context without loading the engine,
    and the layers above stay cheap to import."""
    for package in ("engine", "model", "nmapxml", "output", "output.report"):
        path = PACKAGE / Path(*package.split(".")) / "__init__.py"
        tree = ast.parse(path.read_text())
        imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        assert imports == [], package


def test_packages_point_one_way() -> None:
    forbidden = {
        "nmapx.nmapxml": ("nmapx.engine", "nmapx.nse", "nmapx.output", "nmapx.cli",
                          "nmapx.pipeline"),
        "nmapx.model": ("nmapx.engine", "nmapx.nse", "nmapx.output", "nmapx.cli",
                        "nmapx.pipeline", "nmapx.nmapxml.reader"),
        "nmapx.output": ("nmapx.engine", "nmapx.nse", "nmapx.cli", "nmapx.pipeline"),
        "nmapx.engine": ("nmapx.output", "nmapx.cli", "nmapx.pipeline"),
    }  # fmt: skip
    wrong = set()
    for name, targets in graph().items():
        for other in targets:
            if other.startswith("nmapx.cli") and not name.startswith(("nmapx.cli", "nmapx.__main__")):
                wrong.add((name, other))
            for prefix in forbidden.get(package_of(name), ()):
                if other == prefix or other.startswith(prefix + "."):
                    wrong.add((name, other))
            leaf = name.startswith("nmapx.nmapxml.") and name != "nmapx.nmapxml.reader"
            if leaf and other.startswith("nmapx.model"):
                wrong.add((name, other))
    assert wrong == set()


def test_a_script_authors_world_is_nse_and_scripts() -> None:
    """The built-in scripts import nothing of nmapx but ``nmapx.nse``."""
    wrong = {
        (name, other)
        for name, targets in graph().items()
        if name.startswith("nmapx.scripts.")
        for other in targets
        if not other.startswith("nmapx.nse")
    }
    assert wrong == set()
