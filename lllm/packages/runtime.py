"""The Runtime: a registry of named resources (prompts, tools, tactics, configs, proxies, custom files).

Keys are ``<namespace>:<key>`` where a package's namespace is ``<pkg>.<section>``; resources
registered without a namespace use their bare key. Package discovery (``lllm.packages.discovery``)
fills runtimes from ``lllm.toml`` manifests; this module holds the registry and its lookups."""

from __future__ import annotations

import contextvars
import difflib
import re
import threading
import weakref
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Tuple, Union, cast

from lllm.errors import PackageError, ResourceNotFoundError, ToolBindingError
from lllm.packages.resource import PackageInfo, ResourceNode

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.prompt import Prompt
    from lllm.core.tools import Function

SECTIONS = {"prompt": "prompts", "tool": "tools", "proxy": "proxies", "tactic": "tactics", "config": "configs"}
SECTION_TYPES = {v: k for k, v in SECTIONS.items()}
_TYPE_ORDER = ("prompt", "tool", "proxy", "tactic", "config")
_BAD_KEY = re.compile(r"[\x00-\x1f\x7f\\]")

# The runtime a package is being loaded into; decorators and Tactic subclasses register there.
loading_runtime: contextvars.ContextVar[Optional["Runtime"]] = contextvars.ContextVar(
    "lllm_loading_runtime", default=None
)


@dataclass(frozen=True)
class LoadingContext:
    """What discovery is loading right now: decorators use it to pick the namespace and ``under`` prefix."""

    runtime: "Runtime"
    package: str
    section: str
    prefix: str = ""
    source: str = ""
    reporter: Any = None  # has register(node) -> node, warning on key collisions

    def namespace(self, resource_type: str) -> str:
        return f"{self.package}.{SECTIONS.get(resource_type, resource_type)}"

    def key(self, resource_type: str, key: str) -> str:
        """``key`` with this entry's prefix when the resource belongs to the section being loaded."""
        if self.prefix and SECTIONS.get(resource_type, resource_type) == self.section:
            return f"{self.prefix}/{key}"
        return key

    def register(self, resource_type: str, key: str, value: Any, **meta: Any) -> ResourceNode:
        """Register ``value`` in the loading package (collisions are reported like discovery's own)."""
        node = ResourceNode.eager(
            self.key(resource_type, key),
            value,
            self.namespace(resource_type),
            resource_type,
            source=self.source,
            file_path=self.source,
            **meta,
        )
        return self.reporter.register(node) if self.reporter is not None else self.runtime.register(node)


loading_context: contextvars.ContextVar[Optional[LoadingContext]] = contextvars.ContextVar(
    "lllm_loading_context", default=None
)


def check_key(key: str) -> None:
    """Refuse keys that look like paths escaping a package (``..``, absolute, backslashes, control chars)."""
    problem = None
    if not isinstance(key, str) or not key:
        problem = "it is empty"
    elif key.count(":") > 1:
        problem = "a URL has exactly one ':'"
    elif _BAD_KEY.search(key):
        problem = "it contains a backslash or a control character"
    else:
        rest = key.split(":", 1)[-1]
        if rest.startswith("/") or rest.startswith("~") or ".." in rest.split("/"):
            problem = "it contains '..' or starts with '/' or '~' (keys are not file paths)"
    if problem:
        raise ValueError(f"Invalid resource key {key!r}: {problem}")


class Runtime:
    """An isolated registry. Creating one has no side effects; registration is lock-guarded."""

    def __init__(self, name: str = "default"):
        self.name = name
        self._nodes: Dict[str, ResourceNode] = {}
        self._lock = threading.RLock()
        self.packages: Dict[str, PackageInfo] = {}
        self.default_namespace: Optional[str] = None
        self.discovery_done = False
        self.loaded_package_paths: set[str] = set()
        self.init_error: Optional[str] = None
        self.context_managers: Dict[str, type] = {}
        self._aliases: Dict[str, List[str]] = {}  # package -> its aliases
        self.generation = 0  # bumped on every change; caches compare it
        self.tool_cache: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()

    # -- generic ------------------------------------------------------------------------------
    def register(self, node: ResourceNode, overwrite: bool = True) -> ResourceNode:
        key = node.qualified_key
        with self._lock:
            if not overwrite and key in self._nodes:
                raise ValueError(
                    f"Resource '{key}' is already registered in runtime '{self.name}'; "
                    f"pass overwrite=True to replace it."
                )
            self._nodes[key] = node
            if node.namespace:
                pkg, _, section = node.namespace.partition(".")
                for alias in self._aliases.get(pkg, ()):
                    self._nodes[f"{alias}.{section}:{node.key}"] = node
            self.generation += 1
        return node

    def unregister(self, key: str) -> bool:
        with self._lock:
            node = self._nodes.pop(key, None)
            if node is None:
                return False
            for k in [k for k, n in self._nodes.items() if n is node]:  # its alias entries
                del self._nodes[k]
            self.generation += 1
            return True

    def reset(self) -> None:
        with self._lock:
            self._nodes.clear()
            self.packages.clear()
            self._aliases.clear()
            self.default_namespace = None
            self.discovery_done = False
            self.loaded_package_paths.clear()
            self.init_error = None
            self.context_managers.clear()
            self.generation += 1

    def _candidates(self, key: str, resource_type: Optional[str]) -> List[str]:
        """Qualified keys to try for ``key``, in the resolution order of the spec (§6.2)."""
        out = [key]
        types = (resource_type,) if resource_type else _TYPE_ORDER
        if ":" not in key:
            if self.default_namespace:
                out += [f"{self.default_namespace}.{SECTIONS.get(t, t)}:{key}" for t in types]
            return out
        head, rest = key.split(":", 1)
        if "." not in head:
            if head in self.packages:
                out += [f"{head}.{SECTIONS.get(t, t)}:{rest}" for t in types]
            if self.default_namespace and (head in SECTION_TYPES or head not in self.packages):
                out.append(f"{self.default_namespace}.{head}:{rest}")
            if head not in self.packages:  # a namespace registered by hand (namespace="mypkg.prompts"), as 0.1.x
                out += [f"{head}.{SECTIONS.get(t, t)}:{rest}" for t in types]
        return out

    def get_node(self, key: str, resource_type: Optional[str] = None) -> ResourceNode:
        nodes = self._nodes
        node = nodes.get(key)
        if node is None:
            for cand in self._candidates(key, resource_type):
                node = nodes.get(cand)
                if node is not None:
                    break
            else:
                check_key(key)
                raise self._not_found(key, resource_type)
        if resource_type and node.resource_type != resource_type:
            raise TypeError(f"Resource '{key}' is type '{node.resource_type}', expected '{resource_type}'")
        return node

    def _not_found(self, key: str, resource_type: Optional[str]) -> ResourceNotFoundError:
        keys = self.keys(resource_type)
        close = difflib.get_close_matches(key, keys, n=5, cutoff=0.5)
        if not close:  # compare the key parts too: 'writer' or 'pkg:writr' vs 'pkg.prompts:writer'
            tails = difflib.get_close_matches(
                key.split(":", 1)[-1], [k.split(":", 1)[-1] for k in keys], n=5, cutoff=0.6
            )
            close = [k for k in keys if k.split(":", 1)[-1] in tails][:5]
        kind = resource_type or "resource"
        msg = f"No {kind} '{key}' in runtime '{self.name}'. " + (
            f"Did you mean: {close}?" if close else f"Available: {keys[:20]}"
        )
        if self.init_error:
            msg += f" (note: auto-init failed: {self.init_error})"
        return ResourceNotFoundError(msg, key=key, suggestions=close)

    def find_node(self, key: str, resource_type: Optional[str] = None) -> Optional[ResourceNode]:
        """The node registered under exactly the qualified ``key`` (no resolution, no auto-init), if it has
        ``resource_type``; ``None`` otherwise. ``get_node`` resolves short keys and raises instead."""
        node = self._nodes.get(key)
        return node if node is not None and (resource_type is None or node.resource_type == resource_type) else None

    def get(self, key: str, resource_type: Optional[str] = None) -> Any:
        return self.get_node(key, resource_type).value

    def has(self, key: str, resource_type: Optional[str] = None) -> bool:
        try:
            self.get_node(key, resource_type)
            return True
        except (KeyError, TypeError, ValueError):
            return False

    def _snapshot(self) -> List[Tuple[str, ResourceNode]]:
        """``(key, node)`` pairs copied under the lock: another thread may be registering meanwhile."""
        with self._lock:
            return list(self._nodes.items())

    def keys(self, resource_type: Optional[str] = None) -> List[str]:
        return sorted(k for k, n in self._snapshot() if resource_type is None or n.resource_type == resource_type)

    def iter_nodes(self, resource_type: Optional[str] = None) -> Iterator[ResourceNode]:
        """Each node once (alias entries share nodes), in registration order."""
        return (
            n
            for k, n in self._snapshot()
            if k == n.qualified_key and (resource_type is None or n.resource_type == resource_type)
        )

    def iter_items(self, resource_type: Optional[str] = None) -> Iterator[Tuple[str, Any]]:
        return ((n.qualified_key, n.value) for n in self.iter_nodes(resource_type))

    # -- typed helpers ------------------------------------------------------------------------
    def _ns(self, namespace: str, rtype: str) -> str:
        if not namespace:
            return ""
        return namespace if "." in namespace else f"{namespace}.{SECTIONS[rtype]}"

    def register_prompt(self, prompt: "Prompt", overwrite: bool = True, namespace: str = "") -> ResourceNode:
        node = self.register(
            ResourceNode.eager(prompt.path, prompt, self._ns(namespace, "prompt"), "prompt"), overwrite
        )
        if node.namespace and not prompt.qualified_key:
            prompt.qualified_key = node.qualified_key  # recorded in dialogs (§1.5)
        return node

    def get_prompt(self, key: str) -> "Prompt":
        return cast("Prompt", self.get(key, "prompt"))

    def register_tool(
        self, name: str, fn: Union["Function", Callable[..., Any]], overwrite: bool = True, namespace: str = ""
    ) -> ResourceNode:
        """Register a ``Function`` (a plain callable is wrapped) whose name is the key's last segment."""
        from lllm.core.tools import Function

        last = name.rsplit("/", 1)[-1]
        if not isinstance(fn, Function):
            if not callable(fn):
                raise TypeError(f"register_tool('{name}'): expected a Function or a callable, got {type(fn).__name__}")
            fn = Function.from_callable(fn, name=last)
        if fn.name != last:
            raise ToolBindingError(
                f"Tool key '{name}' must end with the tool's name '{fn.name}' "
                f"(e.g. '{name.rsplit('/', 1)[0] + '/' if '/' in name else ''}{fn.name}')"
            )
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

    def register_config(
        self,
        name: str,
        data: Any = None,
        overwrite: bool = True,
        namespace: str = "",
        loader: Optional[Callable[[], Any]] = None,
        *,
        config_data: Any = None,
    ) -> ResourceNode:
        if config_data is not None:  # the 0.1.x keyword
            import warnings

            warnings.warn(
                "register_config(config_data=...) is deprecated; use register_config(data=...)",
                DeprecationWarning,
                stacklevel=2,
            )
            data = config_data
        ns = self._ns(namespace, "config")
        node = (
            ResourceNode.lazy(name, loader, ns, "config")
            if loader is not None
            else ResourceNode.eager(name, data, ns, "config")
        )
        return self.register(node, overwrite)

    def get_config(self, key: str) -> Any:
        return self.get(key, "config")

    def get_context_manager(self, name: str) -> type:
        """The context-manager class registered under ``name`` (0.1.x API)."""
        try:
            return self.context_managers[name]
        except KeyError:
            raise KeyError(
                f"No context manager '{name}' in runtime '{self.name}'; registered: {sorted(self.context_managers)}"
            ) from None

    def register_context_manager(self, cls: type) -> type:
        name = getattr(cls, "name", None)
        if not name or not isinstance(name, str):
            raise ValueError(f"Context manager class {cls.__name__} must define a class attribute `name`.")
        self.context_managers[name] = cls
        return cls

    # -- packages -----------------------------------------------------------------------------
    def register_package(self, info: PackageInfo) -> None:
        with self._lock:
            self.packages[info.effective_name] = info
            if self.default_namespace is None:
                self.default_namespace = info.effective_name
            self.generation += 1

    def add_alias(self, package: str, alias: str) -> None:
        """Make every resource of ``package`` reachable as ``<alias>.<section>:key`` too (shared nodes)."""
        with self._lock:
            info = self.packages.get(package)
            if info is None:
                raise KeyError(f"No package '{package}' in runtime '{self.name}'; packages: {sorted(self.packages)}")
            other = self.packages.get(alias)
            if other is not None and (other.name != info.name or other.base_dir != info.base_dir):
                raise PackageError(
                    f"Alias '{alias}' for package '{package}' clashes with the package '{other.name}' "
                    f"({other.base_dir}); choose another alias."
                )
            if alias in self._aliases.get(package, ()) or alias == package:
                return
            self._aliases.setdefault(package, []).append(alias)
            self.packages[alias] = replace(info, alias=alias)
            prefix = package + "."
            for node in [n for k, n in self._nodes.items() if k == n.qualified_key and n.namespace.startswith(prefix)]:
                self._nodes[f"{alias}.{node.namespace.partition('.')[2]}:{node.key}"] = node
            self.generation += 1

    def _drop_alias(self, package: str, alias: str) -> None:
        """Stop ``alias`` from reaching ``package`` (its resources keep their own keys and other aliases)."""
        with self._lock:
            if alias not in self._aliases.get(package, ()):
                return
            self._aliases[package].remove(alias)
            self.packages.pop(alias, None)
            prefix = alias + "."
            for k in [k for k, n in self._nodes.items() if k.startswith(prefix) and k != n.qualified_key]:
                del self._nodes[k]
            self.generation += 1

    def unload_package(self, name: str) -> int:
        """Unregister a package (by name or alias): its resources, aliases and records. Returns the count removed."""
        with self._lock:
            info = self.packages.get(name)
            if info is None:
                raise KeyError(f"No package '{name}' in runtime '{self.name}'; packages: {sorted(self.packages)}")
            package = info.name
            names = {package, *self._aliases.pop(package, ())}
            doomed = [k for k, n in self._nodes.items() if n.namespace.partition(".")[0] in names]
            removed = sum(1 for k in doomed if self._nodes[k].qualified_key == k)
            for k in doomed:
                del self._nodes[k]
            for n in names:
                self.packages.pop(n, None)
            if info.base_dir:
                self.loaded_package_paths.discard(info.base_dir)
            if self.default_namespace in names:
                self.default_namespace = next(iter(self.packages), None)
            self.generation += 1
            return removed

    def __repr__(self) -> str:
        return f"Runtime({self.name!r}, {len(self._nodes)} resources, packages={sorted(self.packages)})"


_default_runtime = Runtime("default")
_named: Dict[str, Runtime] = {}


_auto_init_lock = threading.RLock()  # re-entrant: a package being loaded may ask for the runtime again


def get_default_runtime() -> Runtime:
    return _default_runtime


def ensure_auto_init(runtime: Optional[Runtime] = None) -> Runtime:
    """``runtime`` (default: the default runtime) after auto-init (§6.5) ran on it exactly once, even
    when several threads ask at the same moment; later calls return at once."""
    rt = runtime or _default_runtime
    if not rt.discovery_done:
        with _auto_init_lock:
            if not rt.discovery_done:  # auto_init sets the flag only when it has finished
                from lllm.packages.discovery import auto_init

                auto_init(rt)
    return rt


def set_default_runtime(runtime: Runtime) -> None:
    global _default_runtime
    _default_runtime = runtime


def get_runtime(name: Optional[str] = None) -> Runtime:
    if name is None:
        return _default_runtime
    try:
        return _named[name]
    except KeyError:
        raise KeyError(
            f"No runtime named '{name}'. Create one with load_runtime(name='{name}'). Known: {sorted(_named)}"
        ) from None


def set_named_runtime(name: str, runtime: Runtime) -> None:
    _named[name] = runtime


def target_runtime(explicit: Optional[Runtime] = None) -> Runtime:
    """Where a registration goes: the explicit runtime, else the one being loaded, else the default."""
    return explicit or loading_runtime.get() or _default_runtime


def current_loading(runtime: Optional[Runtime] = None) -> Optional[LoadingContext]:
    """The discovery in progress when it targets ``runtime`` (or any runtime if None)."""
    ctx = loading_context.get()
    if ctx is not None and (runtime is None or ctx.runtime is runtime):
        return ctx
    return None


# -- module-level lookups (§6.4) -------------------------------------------------------------


def load_prompt(path: str, runtime: Optional[Runtime] = None) -> Any:
    return (runtime or _default_runtime).get(path, "prompt")


def load_tool(path: str, runtime: Optional[Runtime] = None) -> Any:
    return (runtime or _default_runtime).get(path, "tool")


def load_tactic(path: str, runtime: Optional[Runtime] = None) -> Any:
    return (runtime or _default_runtime).get(path, "tactic")


def load_proxy(path: str, runtime: Optional[Runtime] = None) -> Any:
    return (runtime or _default_runtime).get(path, "proxy")


def load_resource(url: str, runtime: Optional[Runtime] = None) -> Any:
    """Any resource by URL ``<pkg>.<section>:<key>`` (or ``<pkg>:<key>``)."""
    if not isinstance(url, str) or ":" not in url:
        raise ValueError(f"load_resource expects a URL like 'pkg.section:key', got {url!r}")
    return (runtime or _default_runtime).get(url)


_LAZY = {"load_runtime", "load_package", "find_config_file", "load_cwd_fallback"}


def __getattr__(name: str) -> Any:  # discovery lives in its own module; these stay importable from here
    if name in _LAZY:
        from lllm.packages import discovery

        return getattr(discovery, name)
    if name == "load_config":
        from lllm.packages.config import load_config

        return load_config
    if name in ("install_package", "export_package", "list_packages", "remove_package"):
        from lllm.packages import install as packages

        return getattr(packages, name)
    raise AttributeError(f"module 'lllm.packages.runtime' has no attribute '{name}'")


__all__ = [
    "Runtime",
    "LoadingContext",
    "get_default_runtime",
    "ensure_auto_init",
    "set_default_runtime",
    "get_runtime",
    "set_named_runtime",
    "target_runtime",
    "loading_runtime",
    "loading_context",
    "current_loading",
    "check_key",
    "load_prompt",
    "load_tool",
    "load_tactic",
    "load_proxy",
    "load_resource",
    "SECTIONS",
]
