"""Absolute imports of a package's own modules: ``from my_pkg.tactics.plan import Plan``.

Discovery imports a package's files as ``lllm._discovered.<package>.<section>.<name>``. This finder
makes ``<package>.<section>.<name>`` the same module object (imported once, so a pydantic class
is one class wherever it is imported from), for every package loaded so far. The bare
``<package>`` name is claimed only when nothing else on ``sys.path`` provides it, so a loaded
package never shadows an installed distribution."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
from typing import Dict, Optional, Sequence

_lock = threading.Lock()
_packages: Dict[str, str] = {}  # package name -> its discovered module root


class _Alias(importlib.abc.Loader):
    """Loads ``name`` as the already discovered module ``target``."""

    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the module was executed under its discovered name."""


class PackageFinder(importlib.abc.MetaPathFinder):
    """Maps ``<package>.…`` to ``lllm._discovered.<package>.…`` for the packages discovery loaded."""

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]] = None, target: Optional[types.ModuleType] = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        head, dot, rest = fullname.partition(".")
        root = _packages.get(head)
        if root is None:
            return None
        if not dot and _provided_elsewhere(head):
            return None
        discovered = f"{root}.{rest}" if dot else root
        try:
            found = importlib.util.find_spec(discovered)
        except (ImportError, ValueError):
            return None
        if found is None:
            return None
        return importlib.machinery.ModuleSpec(
            fullname, _Alias(discovered), is_package=found.submodule_search_locations is not None
        )


def _provided_elsewhere(name: str) -> bool:
    """Whether another finder on ``sys.meta_path`` can import ``name``."""
    for finder in sys.meta_path:
        if isinstance(finder, PackageFinder):
            continue
        find = getattr(finder, "find_spec", None)
        try:
            if find is not None and find(name, None) is not None:
                return True
        except (ImportError, ValueError):
            continue
    return False


_finder = PackageFinder()


def register_package_imports(package: str, root: str) -> None:
    """Let ``package``'s modules be imported by their absolute names (first in ``sys.meta_path``, so a
    user module importing ``package.section.name`` gets the discovered module, not a second copy)."""
    with _lock:
        _packages[package] = root
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)
        stale = [k for k in sys.modules if k == package or k.startswith(package + ".")]
        for name in stale:  # aliases of a previous load of this package
            if getattr(sys.modules[name], "__name__", "").startswith(root):
                del sys.modules[name]


__all__ = ["PackageFinder", "register_package_imports"]
