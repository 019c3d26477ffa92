"""Dependencies point one way: leaves <- core <- subpackages <- the top. A new cycle fails here."""

from __future__ import annotations

from collections import defaultdict
from typing import Dict, List, Set

import pytest

from tests.architecture.import_graph import import_graph

LEAVES = {"lllm.errors", "lllm.secrets", "lllm.lazy", "lllm._version"}  # import nothing of lllm's but each other
TOP = {"lllm", "lllm._wiring", "lllm.compat", "lllm.cli", "lllm.check", "lllm.scaffold", "lllm.testing", "lllm.utils"}
SUBPACKAGES = ("core", "packages", "invokers", "logging", "proxies", "sandbox", "ui", "serve")


def component(module: str) -> str:
    """``leaf``, ``top``, or the subpackage (``lllm.core``, ...) or top-level module it belongs to.
    Command-line plug-ins (``lllm.<sub>.cli``) belong to the top: they wire subpackages together."""
    if module in LEAVES:
        return "leaf"
    if module in TOP or module.endswith(".cli"):
        return "top"
    parts = module.split(".")
    return f"lllm.{parts[1]}" if parts[1] in SUBPACKAGES else module


@pytest.fixture(scope="module")
def graph() -> Dict[str, Set[str]]:
    return import_graph()


def test_the_graph_is_read(graph):
    assert "lllm.core.agent" in graph and "lllm.core.message" in graph["lllm.core.agent"]


def test_core_imports_only_core_and_the_leaves(graph):
    bad = sorted(
        f"{a} -> {b}"
        for a, deps in graph.items()
        if a.startswith("lllm.core")
        for b in deps
        if not (b.startswith("lllm.core") or b in LEAVES)
    )
    assert not bad, (
        "lllm.core must not import the subpackages around it; call lllm.core.wiring.services "
        "(implemented in lllm/_wiring.py) instead:\n  " + "\n  ".join(bad)
    )


def test_core_names_no_subpackage_even_for_types():
    graph = import_graph(types_too=True)
    bad = sorted(
        f"{a} -> {b}"
        for a, deps in graph.items()
        if a.startswith("lllm.core")
        for b in deps
        if not (b.startswith("lllm.core") or b in LEAVES)
    )
    assert not bad, (
        "lllm.core's annotations use the structural types of lllm.core.protocols, not the classes of "
        "the subpackages:\n  " + "\n  ".join(bad)
    )


def test_leaves_import_only_leaves(graph):
    bad = sorted(f"{a} -> {b}" for a in LEAVES for b in graph.get(a, ()) if b not in LEAVES)
    assert not bad, "\n".join(bad)


def test_only_the_top_imports_the_top(graph):
    bad = sorted(
        f"{a} -> {b}" for a, deps in graph.items() if component(a) != "top" for b in deps if component(b) == "top"
    )
    assert not bad, "a subpackage imports the top of the graph:\n  " + "\n  ".join(bad)


def _cycle(edges: Dict[str, Set[str]]) -> List[str]:
    """One cycle in ``edges`` as a path, or ``[]``."""
    state: Dict[str, int] = {}
    path: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_subpackages_form_no_cycle(graph):
    edges: Dict[str, Set[str]] = defaultdict(set)
    for a, deps in graph.items():
        for b in deps:
            ca, cb = component(a), component(b)
            if ca != cb and "top" not in (ca, cb):
                edges[ca].add(cb)
    assert _cycle(edges) == [], f"subpackages import each other: {' -> '.join(_cycle(edges))}"


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) == []
