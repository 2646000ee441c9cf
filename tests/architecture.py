"""The house rules read from source: who imports whom in gateway/ and drivers/, and file lengths.

A module's imports are every `import`/`from … import` at any depth (inside functions and under
`TYPE_CHECKING` too: a lazy import still ties two rooms together). A room is a direct child of
`gateway/`: a subpackage (`gateway.store`) or a top-level module (`gateway.config`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_LINES = 500
# Production modules that may use the simulated well: it is what they run or show.
SIMULATOR_USERS = ("gateway.simulator", "gateway.demo", "gateway.demo_delivery", "gateway.cli")


@dataclass(frozen=True)
class Module:
    """One source file: its dotted name, its line count and the modules it imports."""

    name: str
    path: Path
    lines: int
    imports: frozenset[str]


def module_name(root: Path, path: Path) -> str:
    """`gateway/store/sink.py` -> `gateway.store.sink`; a package's `__init__` is the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(name: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        package = name.split(".") if is_package else name.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    # `from gateway import store` imports the module gateway.store, not a name in gateway.
    return [base] + [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]


def imports_of(name: str, path: Path) -> frozenset[str]:
    """Every module the file imports (`from pkg import name` also gives the candidate pkg.name)."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.update(_absolute(name, is_package, node))
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__"
              and node.args and isinstance(node.args[0], ast.Constant)):
            found.add(str(node.args[0].value))
    return frozenset(found)


def read_modules(root: Path, packages: Iterable[str] = ("gateway", "drivers")) -> list[Module]:
    """Every .py file of the packages under root."""
    modules = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            name = module_name(root, path)
            lines = len(path.read_text(encoding="utf-8").splitlines())
            modules.append(Module(name, path, lines, imports_of(name, path)))
    return modules


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _outermost(targets: Iterable[str]) -> list[str]:
    """The imported names less those that only extend another (`a.b` and `a.b.c`: `a.b`)."""
    chosen = sorted(set(targets))
    return [t for t in chosen if not any(t != o and _within(t, o) for o in chosen)]


def room_of(name: str) -> str | None:
    """The room a gateway module belongs to (`gateway.store.sink` -> `gateway.store`)."""
    parts = name.split(".")
    if parts[0] != "gateway" or len(parts) < 2:
        return None
    return ".".join(parts[:2])


def drivers_importing_gateway(modules: list[Module]) -> Iterator[str]:
    """drivers/ is sans-IO and runs on MicroPython: it never imports the CPython gateway."""
    for module in modules:
        if _within(module.name, "drivers"):
            for target in _outermost(t for t in module.imports if _within(t, "gateway")):
                yield f"{module.path}: {module.name} imports {target}"


def simulator_importers(modules: list[Module]) -> Iterator[str]:
    """Production code never depends on the simulated well (only the simulator, demo and CLI do)."""
    for module in modules:
        if not _within(module.name, "gateway"):
            continue
        if any(_within(module.name, allowed) for allowed in SIMULATOR_USERS):
            continue
        for target in _outermost(t for t in module.imports if _within(t, "gateway.simulator")):
            yield f"{module.path}: {module.name} imports {target}"


def room_graph(modules: list[Module]) -> dict[str, dict[str, str]]:
    """room -> {room it imports: one module-level import that shows it (for the message)}."""
    known = {module.name for module in modules}
    graph: dict[str, dict[str, str]] = {}
    for module in modules:
        source = room_of(module.name)
        if source is None:
            continue
        graph.setdefault(source, {})
        for target in sorted(module.imports):
            if target not in known:
                continue
            destination = room_of(target)
            if destination and destination != source:
                graph[source].setdefault(destination, f"{module.name} imports {target}")
    return graph


def room_cycles(modules: list[Module]) -> Iterator[str]:
    """Each set of rooms that reach each other (a strongly connected component of two or more)."""
    graph = room_graph(modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the graph has a few dozen rooms
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for neighbour in graph.get(node, {}):
            if neighbour not in index:
                visit(neighbour)
                low[node] = min(low[node], low[neighbour])
            elif neighbour in on_stack:
                low[node] = min(low[node], index[neighbour])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    for component in components:
        members = set(component)
        edges = [f"{why}" for source in component
                 for target, why in sorted(graph[source].items()) if target in members]
        yield f"rooms {{{', '.join(component)}}} import each other: " + "; ".join(edges)


def long_modules(modules: list[Module], limit: int = MAX_LINES) -> Iterator[str]:
    """Production modules longer than the limit (a file to split along its seams)."""
    for module in modules:
        if module.lines > limit:
            yield f"{module.path}: {module.lines} lines (at most {limit})"
