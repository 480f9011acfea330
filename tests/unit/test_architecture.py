"""The layers hold: no import cycle anywhere in forever, lazy imports included.

import-linter (`make lint`) checks the direction of the layers; this checks what it does
not: that no set of modules imports itself round, at any depth.
"""

from __future__ import annotations

import grimp


def _cycles(graph: grimp.ImportGraph) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.find_modules_directly_imported_by(node):
            if not nxt.startswith("forever"):
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(component)

    for module in sorted(graph.modules):
        if module.startswith("forever") and module not in index:
            visit(module)
    return found


def test_no_module_of_forever_sits_in_an_import_cycle() -> None:
    graph = grimp.build_graph("forever", cache_dir=None)
    cycles = _cycles(graph)
    assert cycles == [], "import cycles:\n" + "\n".join(sorted(map(str, cycles)))


def test_the_cycle_finder_sees_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("forever.a", "forever.b", "forever.c"):
        graph.add_module(name)
    graph.add_import(importer="forever.a", imported="forever.b")
    graph.add_import(importer="forever.b", imported="forever.a")
    graph.add_import(importer="forever.b", imported="forever.c")
    assert _cycles(graph) == [{"forever.a", "forever.b"}]
