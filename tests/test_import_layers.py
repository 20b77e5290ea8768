"""The package's imports keep its layers: no import cycle between modules, no module imports
from a layer above its own, and no mobrecon import hides inside a function (but in the package
facade, which keeps ``import mobrecon`` light; the command line keeps ``mobrecon --help`` light by
importing a command's module only when that command runs, by name from its table).
The layers, lowest first (modules import from their own layer or lower ones):

    top-level helpers (io_utils, extras, image, photometric, ...) < hand, mesh, viz < models, synth
    < data < train, eval < detect, infer < cli and the package itself (``mobrecon.load``)

Every ``import`` / ``from ... import`` of a mobrecon module counts, at module level, under
``if TYPE_CHECKING`` or inside a function (an import hidden in a function is still a dependency,
and is how a cycle hid before), relative ones resolved. The files are read with ``ast``; nothing
is imported."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import mobrecon

PACKAGE = Path(mobrecon.__file__).resolve().parent

# The layer of each subpackage; a module may import from its own layer or lower ones.
LAYERS = {
    "hand": 1, "mesh": 1, "viz": 1,
    "models": 2, "synth": 2,
    "data": 3,
    "train": 4, "eval": 4,
    "detect": 5, "infer": 5,
    "cli": 6,
}
HELPERS = 0  # modules directly in mobrecon/ (io_utils, extras, timing, image, ...)
FACADE = 6  # mobrecon/__init__.py: the public mobrecon.load, which reaches the predictor
# Where an import inside a function is allowed: the package facade (``import mobrecon`` stays light).
LAZY_OK = ("mobrecon",)


def package_modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under ``root`` (packages by their __init__)."""
    mods = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _target(name: str, mods: dict[str, Path]) -> str | None:
    """The module an imported dotted name lives in (its longest prefix that is a module)."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, mods: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported mobrecon module, line, inside a function) for each import in ``path``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[:len(package.split(".")) - (child.level - 1)]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                # ``from pkg import sub`` imports the submodule; ``from mod import name`` the module
                names = [f"{source}.{a.name}" if f"{source}.{a.name}" in mods else source for a in child.names]
            else:
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
                continue
            for name in names:
                if name.split(".")[0] == "mobrecon":
                    target = _target(name, mods)
                    if target is not None and target != module:
                        found.append((target, child.lineno, in_function))

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return found


def import_graph(root: Path = PACKAGE) -> tuple[dict[str, Path], list[tuple[str, str, int, bool]]]:
    """The package's modules and its import edges (importer, imported, line, inside a function)."""
    mods = package_modules(root)
    edges = {(m, t, line, fn) for m, p in mods.items() for t, line, fn in imports_of(m, p, mods)}
    return mods, sorted(edges)


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return FACADE
    if parts[1] in LAYERS:
        return LAYERS[parts[1]]
    if len(parts) == 2:
        return HELPERS
    raise AssertionError(f"{module}: a subpackage the layer table does not know; add it to LAYERS")


def cycles(edges: list[tuple[str, str, int, bool]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    graph = defaultdict(set)
    for a, b, _, _ in edges:
        graph[a].add(b)
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def _where(edges, members: set[str]) -> list[str]:
    return [f"{a} (line {line}{', in a function' if fn else ''}) -> {b}"
            for a, b, line, fn in edges if a in members and b in members]


def test_the_walk_sees_the_package():
    mods, edges = import_graph()
    assert "mobrecon.infer.predictor" in mods and "mobrecon.data.crop" in mods
    assert ("mobrecon.infer.predictor", "mobrecon.data.crop") in {(a, b) for a, b, _, _ in edges}


def test_no_import_cycle():
    _, edges = import_graph()
    found = cycles(edges)
    assert not found, "import cycles:\n" + "\n".join(
        f"{' / '.join(c)}:\n    " + "\n    ".join(_where(edges, set(c))) for c in found)


def test_no_import_from_a_higher_layer():
    _, edges = import_graph()
    upward = [f"{a} (line {line}{', in a function' if fn else ''}) -> {b}"
              for a, b, line, fn in edges if layer(b) > layer(a)]
    assert not upward, "imports from a higher layer:\n  " + "\n  ".join(upward)


def test_no_package_import_hidden_in_a_function():
    _, edges = import_graph()
    hidden = [f"{a} (line {line}) -> {b}" for a, b, line, fn in edges
              if fn and a not in LAZY_OK]
    assert not hidden, "mobrecon imports inside functions (move them to the top of the module):\n  " + \
        "\n  ".join(hidden)


def test_the_checks_can_fail(tmp_path):
    """A made-up package with a cycle, an upward import and a hidden import is caught."""
    pkg = tmp_path / "mobrecon"
    for sub in ("hand", "infer", "data"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "hand" / "a.py").write_text("from mobrecon.data.b import x\n")
    (pkg / "data" / "b.py").write_text("def f():\n    from ..hand import a\n")
    (pkg / "infer" / "c.py").write_text("from . import c2\n")
    (pkg / "infer" / "c2.py").write_text("import mobrecon.infer.c\n")
    mods, edges = import_graph(pkg)
    assert sorted(map(sorted, cycles(edges))) == [["mobrecon.data.b", "mobrecon.hand.a"],
                                                  ["mobrecon.infer.c", "mobrecon.infer.c2"]]
    assert [(a, b) for a, b, _, _ in edges if layer(b) > layer(a)] == [("mobrecon.hand.a", "mobrecon.data.b")]
    assert [(a, b) for a, b, _, fn in edges if fn] == [("mobrecon.data.b", "mobrecon.hand.a")]
