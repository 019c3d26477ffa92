"""lllm-core 0.1.x compatibility: the module-level helpers 0.1.x had, and lazy re-exports.

Each 0.1.x module keeps its old names through ``lazy_exports``: a PEP 562 ``__getattr__`` that imports
the new home on first use, so no import cycle forms and ``import lllm`` stays cheap. ``docs/migrating.md``
lists every kept path and every deliberate change."""

from __future__ import annotations

import importlib
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, cast

from lllm.lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover
    from importlib.abc import Loader

    from lllm.invokers.base import BaseInvoker
    from lllm.packages.runtime import Runtime

InvokerBuilder = Callable[[Dict[str, Any]], "BaseInvoker"]
"""0.1.x type of an invoker builder passed to ``register_invoker``."""


MOVED_MODULES: Dict[str, str] = {
    "lllm.core.manifest": "lllm.packages.manifest",
    "lllm.core.discovery": "lllm.packages.discovery",
    "lllm.core.packages": "lllm.packages.install",
    "lllm.core.runtime": "lllm.packages.runtime",
    "lllm.core.resource": "lllm.packages.resource",
    "lllm.core.package_imports": "lllm.packages.imports",
    "lllm.core.yamlsafe": "lllm.packages.yamlsafe",
    "lllm.core.tool_binding": "lllm.packages.tool_binding",
    "lllm.core.skills": "lllm.packages.skills",
    "lllm.core.batch_leases": "lllm.logging.batch_leases",
    "lllm.core.config": "lllm.packages.config",
}
"""Old module path -> new home. Importing the old path gives the very same module object."""


class _MovedModules:
    """Finder and loader (PEP 451) resolving the old paths in ``MOVED_MODULES`` to their new modules; it is
    last on ``sys.meta_path``. (No ``importlib.abc`` base classes: importing those costs 20 ms.)"""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Optional[ModuleSpec]:
        return ModuleSpec(fullname, cast("Loader", self)) if fullname in MOVED_MODULES else None

    def create_module(self, spec: Any) -> ModuleType:
        module = importlib.import_module(MOVED_MODULES[spec.name])
        spec.loader_state = module.__spec__  # importlib is about to set the alias's spec on it
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = module.__spec__.loader_state if module.__spec__ else None  # restore the real spec


def install_module_aliases() -> None:
    """Make the 0.1.x module paths in ``MOVED_MODULES`` importable (idempotent)."""
    if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
        sys.meta_path.append(_MovedModules())


def register_prompt(
    prompt: Any, overwrite: bool = True, namespace: str = "", runtime: "Optional[Runtime]" = None
) -> Any:
    """0.1.x ``lllm.core.prompt.register_prompt``: register ``prompt`` in the default (or given) runtime."""
    from lllm.packages.runtime import get_default_runtime

    return (runtime or get_default_runtime()).register_prompt(prompt, overwrite=overwrite, namespace=namespace)


def get_tactic_class(name: str, runtime: "Optional[Runtime]" = None) -> type:
    """0.1.x ``lllm.core.tactic.get_tactic_class``: the tactic class registered under ``name``."""
    from lllm.packages.runtime import get_default_runtime

    tactic: type = (runtime or get_default_runtime()).get_tactic(name)
    return tactic


def load_toml(path: Any) -> Dict[str, Any]:
    """0.1.x ``lllm.core.config.load_toml``: the parsed TOML file at ``path``."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    with open(path, "rb") as f:
        return tomllib.load(f)


__all__ = [
    "lazy_exports",
    "MOVED_MODULES",
    "install_module_aliases",
    "register_prompt",
    "get_tactic_class",
    "load_toml",
    "InvokerBuilder",
]
