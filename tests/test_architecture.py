"""The package's structure: no import circles (every import statement counts, those inside functions and under
TYPE_CHECKING too), and no experiment named outside its own modules and the registry."""

import ast
import re
from pathlib import Path

import nnlab
from nnlab import registry

PACKAGE = Path(nnlab.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every module of nnlab and the nnlab modules it imports anywhere in its text."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            graph[name] |= {target for target in targets if target in modules and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
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

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_two_modules_import_each_other_directly_or_around_a_loop():
    graph = import_graph()
    assert "nnlab.checkpoints" in graph["nnlab.classifier"]  # the graph sees imports inside functions too
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# The modules that deal with experiments in general: they loop over the registry and name none of them.
GENERIC = [
    "cli.py",
    "commandline.py",
    "experiment.py",
    "index.py",
    "outputs.py",
    "pages.py",
    "presets.py",
    "progress.py",
    "registry.py",
    "report.py",
    "running.py",
    "tables.py",
    "trials.py",
    "sweep/__init__.py",
    "sweep/grid.py",
    "sweep/cluster.py",
    "sweep/summary.py",
    "race.py",
    "stats.py",
    "files.py",
    "declarations.py",
]


def test_no_experiment_is_named_in_the_modules_that_loop_over_them():
    names = "|".join(map(re.escape, registry.names()))
    pattern = re.compile(f"[\"']({names})[\"']")
    offenders = []
    for relative in GENERIC:
        path = PACKAGE / relative
        if not path.exists():
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line.split("#")[0]):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []
    assert len([relative for relative in GENERIC if (PACKAGE / relative).exists()]) >= 19
