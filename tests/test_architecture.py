"""Architecture rules of the source tree, checked from the syntax of ``src/``.

- no import cycle between modules of a package, function-level imports included (imports under
  ``if TYPE_CHECKING:`` are annotations only and do not count);
- no source module over :data:`MAX_LINES` lines;
- no private name (``_x``) imported from another module (private *modules* such as
  ``cvxnn._validation`` are the package's internals and may be imported inside it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGES = ("cvxnn", "cvxnn_bench")
MAX_LINES = 700


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((SRC / pkg).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that runs (at module level or inside a function), skipping the
    bodies of ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    visit_node(sub)
                continue
            visit_node(child)

    def visit_node(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        visit(node)

    visit(tree)
    return found


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """Edges module -> imported internal modules, and the private names imported across modules."""
    modules = source_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    private: list[str] = []
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in runtime_imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = resolve(name, is_package, node)
                targets = []
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
                    private_name = alias.name.startswith("_") and not alias.name.startswith("__")
                    # a private *module* (``from . import _registry``) is package-internal by design
                    if private_name and base in modules and sub not in modules:
                        private.append(f"{name} imports {alias.name} from {base}")
            for target in targets:
                # importing a.b.c runs a and a.b too; the edge that matters is the deepest module
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph, private


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return components


def test_no_import_cycles() -> None:
    graph, _ = import_graph()
    assert find_cycles(graph) == []


def test_cycle_detector_sees_function_level_imports() -> None:
    tree = ast.parse("def f():\n    from . import b\nif TYPE_CHECKING:\n    from . import c\n")
    names = [n.module for n in runtime_imports(tree) if isinstance(n, ast.ImportFrom)]
    assert names == [None]
    assert find_cycles({"p.a": {"p.b"}, "p.b": {"p.a"}, "p.c": set()}) == [["p.a", "p.b"]]


@pytest.mark.parametrize("name", sorted(source_modules()))
def test_module_size(name: str) -> None:
    lines = source_modules()[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines (at most {MAX_LINES})"


def test_no_private_names_across_modules() -> None:
    _, private = import_graph()
    assert private == []


ROOT = SRC.parent
#: Names of files outside the repository that its text once cited (built so this file does not cite them).
OUTSIDE = ("MATH" + ".md", "shared" + "/design", "design" + " notes")


def test_nothing_points_outside_the_repository() -> None:
    files = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("benchmarks/*.md")]
    for folder in ("src", "tests", "examples", "benchmarks"):
        files += sorted((ROOT / folder).rglob("*.py"))
    cited = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        for name in OUTSIDE
        if name in path.read_text(encoding="utf-8")
    ]
    assert cited == []


def test_no_control_characters_in_text() -> None:
    # e.g. a backspace where a docstring meant "\beta" (a non-raw string turned it into "\x08eta")
    files = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("benchmarks/*.md")]
    for folder in ("src", "tests", "examples", "benchmarks"):
        files += sorted((ROOT / folder).rglob("*.py"))
    allowed = {"\n", "\t"}
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if any(ord(ch) < 32 and ch not in allowed for ch in line)
    ]
    assert found == []
