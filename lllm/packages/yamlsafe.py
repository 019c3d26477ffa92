"""Bounded YAML loading: every YAML document LLLM reads (configs, package data files, prompt and skill
front matter, ``--override`` values) goes through ``load_yaml`` or ``load_yaml_file``.

YAML aliases let a few hundred bytes stand for billions of nodes (the "billion laughs" document). The
node graph is measured after parsing and before any Python object is built, and a document is refused
with a ``ConfigError`` naming its source when its text is larger than ``MAX_YAML_BYTES``, its aliases
add more than ``MAX_YAML_ALIAS_NODES`` nodes, an alias refers to itself, or it nests deeper than
``MAX_YAML_DEPTH``. Aliases used sanely (a few anchors reused) load as before."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

from lllm.errors import ConfigError

MAX_YAML_BYTES = 8 * 1024 * 1024
MAX_YAML_ALIAS_NODES = 100_000
MAX_YAML_DEPTH = 100

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: same checks, faster parsing


class _Refused(Exception):
    """A document over one of the bounds; the message says which."""


def _children(node: yaml.Node) -> List[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        children: List[yaml.Node] = node.value
        return children
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _measure(root: yaml.Node) -> Tuple[int, int, int]:
    """``(expanded nodes, distinct nodes, depth)`` of a composed node graph, without expanding it.

    Raises ``_Refused`` for a recursive alias. Iterative, so a deep document cannot exhaust the stack."""
    size: Dict[int, int] = {}
    depth: Dict[int, int] = {}
    open_nodes: set[int] = set()  # expanded, children not finished: meeting one again is a cycle
    stack: List[Tuple[yaml.Node, Any]] = [(root, None)]
    while stack:
        node, kids = stack.pop()
        key = id(node)
        if kids is not None:  # all children measured
            total, deepest = 1, 0
            for kid in kids:
                total += size[id(kid)]
                deepest = max(deepest, depth[id(kid)])
            size[key], depth[key] = total, deepest + 1
            open_nodes.discard(key)
            continue
        if key in size:
            continue
        kids = _children(node)
        if not kids:  # a scalar or an empty collection: most nodes
            size[key] = depth[key] = 1
            continue
        open_nodes.add(key)
        stack.append((node, kids))
        for kid in kids:
            if id(kid) in open_nodes:
                raise _Refused(
                    "an alias refers to a node that contains it (a recursive anchor); "
                    "LLLM does not load self-referencing YAML"
                )
            if id(kid) not in size:
                stack.append((kid, None))
    return size[id(root)], len(size), depth[id(root)]


class BoundedSafeLoader(_Base):  # type: ignore[misc]
    """``yaml.SafeLoader`` (C when available) that checks the node graph before constructing it."""

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        expanded, distinct, depth = _measure(node)
        if expanded - distinct > MAX_YAML_ALIAS_NODES:
            raise _Refused(
                f"its aliases expand it by {expanded - distinct:,} nodes; the limit is "
                f"{MAX_YAML_ALIAS_NODES:,} (a 'billion laughs' document?). Write the values out "
                f"or reuse fewer anchors"
            )
        if depth > MAX_YAML_DEPTH:
            raise _Refused(f"it nests {depth} levels deep; the limit is {MAX_YAML_DEPTH}")
        return self.construct_document(node)


def load_yaml(text: "str | bytes", source: str) -> Any:
    """One YAML document parsed safely within the bounds; ``ConfigError`` starting with ``source``
    (a file or a description) for invalid YAML or a bound exceeded."""
    if len(text) > MAX_YAML_BYTES:
        unit = "bytes" if isinstance(text, bytes) else "characters"
        raise ConfigError(f"{source}: the YAML text has {len(text):,} {unit}; the limit is {MAX_YAML_BYTES:,}")
    loader = BoundedSafeLoader(text)
    try:
        return loader.get_single_data()
    except _Refused as e:
        raise ConfigError(f"{source}: YAML refused: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from None
    except RecursionError:
        raise ConfigError(
            f"{source}: YAML refused: it nests too deeply to load (limit {MAX_YAML_DEPTH} levels)"
        ) from None
    finally:
        loader.dispose()


def read_text_capped(path: "str | os.PathLike[str]", limit: Optional[int] = None) -> str:
    """The UTF-8 text of ``path``, refusing (``ConfigError`` naming it) a file larger than ``limit`` bytes
    (default ``MAX_YAML_BYTES``) without reading more than that."""
    path = Path(path)
    limit = MAX_YAML_BYTES if limit is None else limit
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    if len(data) > limit:
        raise ConfigError(f"{path}: the file is larger than {limit:,} bytes, the limit for files LLLM parses")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text: {e}") from None


def load_yaml_file(path: "str | os.PathLike[str]") -> Any:
    """``load_yaml`` of a file, its size checked before it is read."""
    return load_yaml(read_text_capped(path), str(path))


__all__ = [
    "load_yaml",
    "load_yaml_file",
    "read_text_capped",
    "BoundedSafeLoader",
    "MAX_YAML_BYTES",
    "MAX_YAML_ALIAS_NODES",
    "MAX_YAML_DEPTH",
]
