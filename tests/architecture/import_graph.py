"""The import graph of the ``lllm`` package, read from the source with ``ast`` (nothing is imported).

Every ``import``/``from ... import`` counts, at module level or inside a function; those under
``if TYPE_CHECKING:`` (types only, never run) count when asked for."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, Set

ROOT = Path(__file__).resolve().parents[2] / "lllm"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, types_too: bool) -> Iterator[str]:
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child) and not types_too:
                stack.extend(child.orelse)
                continue
            if isinstance(child, ast.Import):
                yield from (a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: resolve against this module's package
                    pkg = module.split(".") if is_package else module.split(".")[:-1]
                    pkg = pkg[: len(pkg) - (child.level - 1)]
                    base = ".".join([*pkg, base] if base else pkg)
                yield base
                yield from (f"{base}.{a.name}" for a in child.names)  # `from pkg import module`
            stack.append(child)


def import_graph(types_too: bool = False) -> Dict[str, Set[str]]:
    """Each ``lllm`` module -> the ``lllm`` modules it imports (run-time imports; ``types_too``: and those
    under ``if TYPE_CHECKING:``)."""
    paths = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph: Dict[str, Set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        found = {m for m in _imports(tree, name, path.name == "__init__.py", types_too) if m in paths}
        found.discard(name)
        graph[name] = found
    return graph
