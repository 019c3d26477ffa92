"""Packages: manifests (``lllm.toml``), discovery, the runtime registry of resources, configs, installs.

Core never imports this subpackage; the top level hands core a runtime (see ``lllm.core.wiring``)."""

from __future__ import annotations

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
__all__ = sorted(_NAMES)
__getattr__ = _lazy_exports(__name__, _NAMES)
