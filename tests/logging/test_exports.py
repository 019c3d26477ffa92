"""lllm.logging's lazy exports: ``__all__``, the lazy table and the type checkers' imports name the same things."""

from __future__ import annotations

import ast
import inspect

import lllm.logging as logging_pkg


def test_all_lists_every_lazy_export_and_each_resolves():
    assert sorted(logging_pkg.__all__) == sorted([*logging_pkg._EXPORTS, "redact", "REDACTED"])
    assert all(getattr(logging_pkg, name) is not None for name in logging_pkg.__all__)


def test_type_checking_block_reexports_each_lazy_name_from_its_module():
    tree = ast.parse(inspect.getsource(logging_pkg))
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    seen = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname == alias.name
    }
    assert seen == {name: f"lllm.logging.{module}" for name, module in logging_pkg._EXPORTS.items()}
