"""Packages: manifests (``lllm.toml``), discovery, the runtime registry of resources, configs, installs.

Core never imports this subpackage; the top level hands core a runtime (see ``lllm.core.wiring``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lllm.lazy import lazy_exports as _lazy_exports

_NAMES = {
    "Runtime": "lllm.packages.runtime",
    "get_default_runtime": "lllm.packages.runtime",
    "ResourceNode": "lllm.packages.resource",
    "PackageInfo": "lllm.packages.resource",
    "load_runtime": "lllm.packages.discovery",
    "load_package": "lllm.packages.discovery",
    "install_package": "lllm.packages.install",
    "export_package": "lllm.packages.install",
    "list_packages": "lllm.packages.install",
    "remove_package": "lllm.packages.install",
}
if TYPE_CHECKING:  # pragma: no cover - lets type checkers see the lazily imported names (`X as X`: a re-export)
    from lllm.packages.discovery import load_package as load_package, load_runtime as load_runtime
    from lllm.packages.install import (
        export_package as export_package,
        install_package as install_package,
        list_packages as list_packages,
        remove_package as remove_package,
    )
    from lllm.packages.resource import PackageInfo as PackageInfo, ResourceNode as ResourceNode
    from lllm.packages.runtime import Runtime as Runtime, get_default_runtime as get_default_runtime

__all__ = sorted(_NAMES)
__getattr__ = _lazy_exports(__name__, _NAMES)
