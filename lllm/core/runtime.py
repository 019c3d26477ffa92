"""The Runtime: a registry of named resources (prompts, tools, tactics, configs, proxies).

Keys are ``<namespace>:<key>`` where a package's namespace is ``<pkg>.<section>``; resources
registered without a namespace use their bare key. Package discovery (lllm.toml) builds on this."""
from __future__ import annotations

import contextvars
import difflib
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple

from lllm.core.resource import PackageInfo, ResourceNode
from lllm.errors import ResourceNotFoundError

SECTIONS = {"prompt": "prompts", "tool": "tools", "proxy": "proxies", "tactic": "tactics", "config": "configs"}
_TYPE_ORDER = ("prompt", "tool", "proxy", "tactic", "config")

# The runtime a package is being loaded into; decorators and Tactic subclasses register there.
loading_runtime: contextvars.ContextVar[Optional["Runtime"]] = contextvars.ContextVar("lllm_loading_runtime", default=None)


class Runtime:
    """An isolated registry. Creating one has no side effects; registration is lock-guarded."""

    def __init__(self, name: str = "default"):
        self.name = name
        self._nodes: Dict[str, ResourceNode] = {}
        self._lock = threading.RLock()
        self.packages: Dict[str, PackageInfo] = {}
        self.default_namespace: Optional[str] = None
        self.discovery_done = False
        self.loaded_package_paths: set = set()
        self.init_error: Optional[str] = None
        self.context_managers: Dict[str, type] = {}

    # -- generic ------------------------------------------------------------------------------
    def register(self, node: ResourceNode, overwrite: bool = True) -> ResourceNode:
        key = node.qualified_key
        with self._lock:
            if not overwrite and key in self._nodes:
                raise ValueError(f"Resource '{key}' is already registered in runtime '{self.name}'; "
                                 f"pass overwrite=True to replace it.")
            self._nodes[key] = node
        return node

    def unregister(self, key: str) -> bool:
        with self._lock:
            return self._nodes.pop(key, None) is not None

    def reset(self) -> None:
        with self._lock:
            self._nodes.clear()
            self.packages.clear()
            self.default_namespace = None
            self.discovery_done = False
            self.loaded_package_paths.clear()
            self.init_error = None
            self.context_managers.clear()

    def _candidates(self, key: str, resource_type: Optional[str]) -> List[str]:
        """Qualified keys to try for ``key``, in the resolution order of the spec (§6.2)."""
        out = [key]
        types = (resource_type,) if resource_type else _TYPE_ORDER
        if ":" not in key:
            if self.default_namespace:
                out += [f"{self.default_namespace}.{SECTIONS[t]}:{key}" for t in types]
            return out
        head, rest = key.split(":", 1)
        if "." not in head:
            if head in self.packages or any(p.alias == head for p in self.packages.values()):
                out += [f"{head}.{SECTIONS[t]}:{rest}" for t in types]
            if head in SECTIONS.values() and self.default_namespace:
                out.append(f"{self.default_namespace}.{head}:{rest}")
        return out

    def get_node(self, key: str, resource_type: Optional[str] = None) -> ResourceNode:
        nodes = self._nodes
        for cand in self._candidates(key, resource_type):
            node = nodes.get(cand)
            if node is None:
                continue
            if resource_type and node.resource_type != resource_type:
                raise TypeError(f"Resource '{key}' is type '{node.resource_type}', expected '{resource_type}'")
            return node
        raise self._not_found(key, resource_type)

    def _not_found(self, key: str, resource_type: Optional[str]) -> ResourceNotFoundError:
        keys = self.keys(resource_type)
        close = difflib.get_close_matches(key, keys, n=5, cutoff=0.5)
        shown = close or keys[:20]
        kind = resource_type or "resource"
        msg = f"No {kind} '{key}' in runtime '{self.name}'. " + (
            f"Did you mean: {close}?" if close else f"Available: {shown}")
        if self.init_error:
            msg += f" (note: auto-init failed: {self.init_error})"
        return ResourceNotFoundError(msg, key=key, suggestions=close)

    def get(self, key: str, resource_type: Optional[str] = None) -> Any:
        return self.get_node(key, resource_type).value

    def has(self, key: str, resource_type: Optional[str] = None) -> bool:
        try:
            self.get_node(key, resource_type)
            return True
        except (KeyError, TypeError):
            return False

    def keys(self, resource_type: Optional[str] = None) -> List[str]:
        return sorted(k for k, n in self._nodes.items() if resource_type is None or n.resource_type == resource_type)

    def iter_nodes(self, resource_type: Optional[str] = None) -> Iterator[ResourceNode]:
        return (n for n in list(self._nodes.values()) if resource_type is None or n.resource_type == resource_type)

    def iter_items(self, resource_type: Optional[str] = None) -> Iterator[Tuple[str, Any]]:
        return ((n.qualified_key, n.value) for n in self.iter_nodes(resource_type))

    # -- typed helpers ------------------------------------------------------------------------
    def _ns(self, namespace: str, rtype: str) -> str:
        if not namespace:
            return ""
        return namespace if "." in namespace else f"{namespace}.{SECTIONS[rtype]}"

    def register_prompt(self, prompt: Any, overwrite: bool = True, namespace: str = "") -> ResourceNode:
        return self.register(ResourceNode.eager(prompt.path, prompt, self._ns(namespace, "prompt"), "prompt"), overwrite)

    def get_prompt(self, key: str) -> Any:
        return self.get(key, "prompt")

    def register_tool(self, name: str, fn: Any, overwrite: bool = True, namespace: str = "") -> ResourceNode:
        return self.register(ResourceNode.eager(name, fn, self._ns(namespace, "tool"), "tool"), overwrite)

    def get_tool(self, key: str) -> Any:
        return self.get(key, "tool")

    def register_tactic(self, name: str, cls: type, overwrite: bool = False, namespace: str = "") -> ResourceNode:
        return self.register(ResourceNode.eager(name, cls, self._ns(namespace, "tactic"), "tactic"), overwrite)

    def get_tactic(self, key: str) -> Any:
        return self.get(key, "tactic")

    def register_proxy(self, name: str, cls: type, overwrite: bool = False, namespace: str = "") -> ResourceNode:
        return self.register(ResourceNode.eager(name, cls, self._ns(namespace, "proxy"), "proxy"), overwrite)

    def get_proxy(self, key: str) -> Any:
        return self.get(key, "proxy")

    def register_config(self, name: str, data: Any = None, overwrite: bool = True, namespace: str = "",
                        loader: Any = None) -> ResourceNode:
        ns = self._ns(namespace, "config")
        node = (ResourceNode.lazy(name, loader, ns, "config") if loader is not None
                else ResourceNode.eager(name, data, ns, "config"))
        return self.register(node, overwrite)

    def get_config(self, key: str) -> Any:
        return self.get(key, "config")

    def register_context_manager(self, cls: type) -> type:
        name = getattr(cls, "name", None)
        if not name or not isinstance(name, str):
            raise ValueError(f"Context manager class {cls.__name__} must define a class attribute `name`.")
        self.context_managers[name] = cls
        return cls

    def register_package(self, info: PackageInfo) -> None:
        with self._lock:
            self.packages[info.effective_name] = info
            if self.default_namespace is None:
                self.default_namespace = info.effective_name

    def __repr__(self) -> str:
        return f"Runtime({self.name!r}, {len(self._nodes)} resources, packages={sorted(self.packages)})"


_default_runtime = Runtime("default")
_named: Dict[str, Runtime] = {}


def get_default_runtime() -> Runtime:
    return _default_runtime


def set_default_runtime(runtime: Runtime) -> None:
    global _default_runtime
    _default_runtime = runtime


def get_runtime(name: Optional[str] = None) -> Runtime:
    if name is None:
        return _default_runtime
    try:
        return _named[name]
    except KeyError:
        raise KeyError(f"No runtime named '{name}'. Create one with load_runtime(name='{name}'). "
                       f"Known: {sorted(_named)}") from None


def target_runtime(explicit: Optional[Runtime] = None) -> Runtime:
    """Where a registration goes: the explicit runtime, else the one being loaded, else the default."""
    return explicit or loading_runtime.get() or _default_runtime


__all__ = ["Runtime", "get_default_runtime", "set_default_runtime", "get_runtime", "target_runtime", "loading_runtime"]
