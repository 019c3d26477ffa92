"""Registry entries: a ResourceNode wraps one resource (eager or lazily loaded) under a qualified key."""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional

_UNSET = object()


class ResourceNode:
    """One registered resource. ``value`` loads a lazy node at most once, even concurrently."""

    __slots__ = ("key", "namespace", "resource_type", "metadata", "_value", "_loader", "_lock")

    def __init__(
        self,
        key: str,
        value: Any = _UNSET,
        loader: Optional[Callable[[], Any]] = None,
        namespace: str = "",
        resource_type: str = "generic",
        **metadata: Any,
    ):
        self.key = key
        self.namespace = namespace
        self.resource_type = resource_type
        self.metadata: Dict[str, Any] = dict(metadata)
        self._value = value
        self._loader = loader
        self._lock = threading.Lock()

    @classmethod
    def eager(
        cls, key: str, value: Any, namespace: str = "", resource_type: str = "generic", **meta: Any
    ) -> "ResourceNode":
        return cls(key, value=value, namespace=namespace, resource_type=resource_type, **meta)

    @classmethod
    def lazy(
        cls, key: str, loader: Callable[[], Any], namespace: str = "", resource_type: str = "generic", **meta: Any
    ) -> "ResourceNode":
        return cls(key, loader=loader, namespace=namespace, resource_type=resource_type, **meta)

    @property
    def qualified_key(self) -> str:
        return f"{self.namespace}:{self.key}" if self.namespace else self.key

    @property
    def loaded(self) -> bool:
        return self._value is not _UNSET

    @property
    def is_loaded(self) -> bool:
        """0.1.x spelling of ``loaded``."""
        warnings.warn("ResourceNode.is_loaded is deprecated; use ResourceNode.loaded", DeprecationWarning, stacklevel=2)
        return self.loaded

    @property
    def value(self) -> Any:
        v = self._value
        if v is not _UNSET:
            return v
        with self._lock:
            if self._value is _UNSET:
                assert self._loader is not None
                self._value = self._loader()  # an error propagates and leaves the node unloaded
            return self._value

    def __repr__(self) -> str:
        return f"ResourceNode({self.qualified_key!r}, type={self.resource_type!r}, loaded={self.loaded})"


@dataclass
class PackageInfo:
    """A loaded package: its manifest fields and where it lives."""

    name: str
    version: str = ""
    description: str = ""
    base_dir: Optional[str] = None
    alias: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def effective_name(self) -> str:
        return self.alias or self.name


__all__ = ["ResourceNode", "PackageInfo"]

from lllm.lazy import lazy_exports as _lazy_exports  # noqa: E402 - 0.1.x names kept here

__getattr__ = _lazy_exports(
    __name__,
    {
        "load_prompt": "lllm.packages.runtime",
        "load_tactic": "lllm.packages.runtime",
        "load_proxy": "lllm.packages.runtime",
        "load_config": "lllm.packages.config",
        "load_resource": "lllm.packages.runtime",
    },
)
