"""Every name a package ``__init__`` loads lazily is also imported for type checkers as ``X as X``.

A lazy ``__getattr__`` is invisible to mypy and pyright: without the ``TYPE_CHECKING`` import the name is ``Any``
to them, and under ``--strict`` (``no_implicit_reexport``) ``from lllm import Tactic`` is an error."""

import ast
from pathlib import Path

import pytest

import lllm

PACKAGE = Path(lllm.__file__).parent
MAPPINGS = ("_EXPORTS", "_HOMES", "_NAMES", "_LAZY")
# 0.1.x names kept importable from core, whose homes core must not import, even for a type checker
UNTYPED = {"lllm.core": {"lllm.packages.", "lllm.compat"}, "lllm.invokers": {"lllm.compat"}}


def lazy_and_typed(init: Path):
    """(lazy name -> home module, names imported as ``X as X`` under ``if TYPE_CHECKING``)."""
    tree = ast.parse(init.read_text())
    lazy, typed = {}, set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            if any(isinstance(t, ast.Name) and t.id in MAPPINGS for t in node.targets):
                lazy.update(
                    {ast.literal_eval(k): ast.literal_eval(v) for k, v in zip(node.value.keys, node.value.values)}
                )
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imp in ast.walk(node):
                if isinstance(imp, ast.ImportFrom):
                    typed.update(a.name for a in imp.names if a.asname == a.name)
    return lazy, typed


INITS = sorted(p for p in PACKAGE.glob("**/__init__.py") if lazy_and_typed(p)[0])


def test_the_packages_with_lazy_names_are_found():
    found = {str(p.parent.relative_to(PACKAGE.parent)).replace("/", ".") for p in INITS}
    assert {"lllm", "lllm.core", "lllm.eval", "lllm.invokers", "lllm.logging", "lllm.packages", "lllm.serve"} <= found


@pytest.mark.parametrize("init", INITS, ids=lambda p: str(p.parent.relative_to(PACKAGE.parent)).replace("/", "."))
def test_every_lazy_name_is_typed(init):
    package = str(init.parent.relative_to(PACKAGE.parent)).replace("/", ".")
    lazy, typed = lazy_and_typed(init)
    skip = UNTYPED.get(package, set())
    missing = sorted(n for n, home in lazy.items() if n not in typed and not any(home.startswith(s) for s in skip))
    assert not missing, f"{init}: add to its `if TYPE_CHECKING:` block, as `from <home> import X as X`: {missing}"
