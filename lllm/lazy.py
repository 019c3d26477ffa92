"""Lazy module attributes: a PEP 562 ``__getattr__`` importing a name's home on first use (a leaf module).

It keeps ``import lllm`` cheap and lets old (0.1.x) import paths name things that now live elsewhere."""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any, Callable, Mapping, Optional, Tuple


def lazy_exports(
    module: str, names: Mapping[str, str], deprecated: Optional[Mapping[str, Tuple[str, str]]] = None
) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``names[name]`` ("pkg.mod" or "pkg.mod:attr") on first use.

    ``deprecated`` maps an old name to ``(target, new spelling)``; using it warns and is not cached."""

    def __getattr__(name: str) -> Any:
        old = (deprecated or {}).get(name)
        target = old[0] if old else names.get(name)
        if target is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        mod, _, attr = target.partition(":")
        value = getattr(importlib.import_module(mod), attr or name)
        if old:
            warnings.warn(f"{module}.{name} is deprecated; use {old[1]}", DeprecationWarning, stacklevel=2)
        else:
            setattr(sys.modules[module], name, value)
        return value

    return __getattr__


__all__ = ["lazy_exports"]
