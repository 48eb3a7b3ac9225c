"""The rooms' import rules and the absence of import cycles, read from the source of every module.

``bench`` may import every room; ``restore`` may import ``simulate``; ``simulate`` and ``fitting`` import no
other room; ``reports`` reads results and imports no room's computations; every room may import ``_shared``,
which imports none of them. An import inside a function counts like one at the top: a cycle that only
closes at run time is still a cycle.
"""
import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("_shared", "bench", "fitting", "reports", "restore", "simulate")
ALLOWED = {
    "_shared": set(),
    "simulate": set(),
    "fitting": set(),
    "restore": {"simulate"},
    "reports": set(),
    "bench": {"simulate", "fitting", "restore", "reports"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from package import module`` resolves to the module)."""
    paths = {module_name(p): p for room in ROOMS for p in (ROOT / room).rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in paths and "." in target:
                    target = target.rpartition(".")[0]
                if target in paths and target != name:
                    graph[name].add(target)
        graph.setdefault(name, set())
    return dict(graph)


def test_every_room_imports_only_what_its_rule_allows():
    broken = []
    for module, targets in import_graph().items():
        room = module.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other not in (room, "_shared") and other not in ALLOWED[room]:
                broken.append(f"{module} imports {target} ({room} may import {sorted(ALLOWED[room]) or 'no room'})")
            if room == "_shared" and other != "_shared":
                broken.append(f"{module} imports {target} (_shared imports no room)")
    assert not broken, "\n".join(broken)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
