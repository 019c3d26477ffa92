"""Defining proxies: ``BaseProxy`` (an API surface described endpoint by endpoint), the
``@BaseProxy.endpoint`` metadata decorator, and registration (``@ProxyRegistrator``, ``register_proxy``,
``load_builtin_proxies``)."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import logging
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Type, TypeVar, Union

from lllm.packages.runtime import Runtime, current_loading, loading_runtime, target_runtime

logger = logging.getLogger("lllm.proxies")

#: Modules ``load_builtin_proxies()`` imports by default. LLLM ships no network proxies (they need keys);
#: packages list theirs under ``[proxies]`` or pass module names explicitly.
BUILTIN_PROXY_MODULES: Tuple[str, ...] = ()


def _parse_cutoff(value: Any) -> Optional[dt.datetime]:
    """An ISO date/datetime (or ``date``/``datetime``) as a datetime; anything invalid is ``None``, with a warning."""
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    warnings.warn(
        f"cutoff_date {value!r} is not an ISO date (e.g. '2024-06-30'); it is ignored", UserWarning, stacklevel=3
    )
    return None


_P = TypeVar("_P", bound="BaseProxy")
_F = TypeVar("_F", bound=Callable[..., Any])


class BaseProxy:
    """An API surface agents call through ``CALL_API``: one method per endpoint, each decorated with
    ``@BaseProxy.endpoint(...)``. Endpoint methods take the parameters as one dict (``def search(self,
    params)``) or as keyword arguments; only decorated methods can be called.

    ``additional_docs`` (``{title: text}``) is appended to the proxy's documentation."""

    additional_docs: Dict[str, str] = {}
    # set by @ProxyRegistrator on a registered class (read with getattr: a bare subclass has none)
    _proxy_path: str
    _proxy_name: str
    _proxy_description: str

    def __init__(
        self,
        *,
        activate_proxies: Optional[List[str]] = None,
        cutoff_date: Union[str, dt.date, None] = None,
        deploy_mode: bool = False,
        use_cache: bool = True,
        **kw: Any,
    ):
        self.activate_proxies = list(activate_proxies or [])
        self.cutoff_date = _parse_cutoff(cutoff_date)
        self.deploy_mode = deploy_mode
        self.use_cache = use_cache

    @staticmethod
    def endpoint(
        category: str,
        endpoint: str,
        description: str,
        params: Dict[str, Any],
        response: Any,
        name: Optional[str] = None,
        sub_category: Optional[str] = None,
        remove_keys: Optional[List[str]] = None,
        dt_cutoff: Any = None,
        method: str = "GET",
    ) -> Callable[[_F], _F]:
        """Attach ``endpoint_info`` to a method (nothing else). ``params`` maps names to ``(type, example)``;
        a trailing ``*`` marks a required parameter: ``{"q*": (str, "London"), "limit": (int, 10)}``."""
        info = {
            "category": category,
            "endpoint": endpoint,
            "name": name,
            "description": description,
            "sub_category": sub_category,
            "remove_keys": remove_keys,
            "params": params,
            "response": response,
            "dt_cutoff": dt_cutoff,
            "method": method,
        }

        def decorate(fn: _F) -> _F:
            fn.endpoint_info = info  # type: ignore[attr-defined]
            return fn

        return decorate

    @staticmethod
    def postcall(fn: _F) -> _F:
        """Mark a method as a post-call hook (a marker only: ``fn.is_postcall = True``)."""
        fn.is_postcall = True  # type: ignore[attr-defined]
        return fn

    def endpoint_methods(self) -> Iterable[Tuple[str, Callable[..., Any], Dict[str, Any]]]:
        """``(attribute name, bound method, endpoint_info)`` of every decorated method."""
        for attr in dir(type(self)):
            info = getattr(getattr(type(self), attr, None), "endpoint_info", None)
            if isinstance(info, dict):
                yield attr, getattr(self, attr), info

    def endpoint_directory(self) -> List[Dict[str, Any]]:
        """Every endpoint: its ``endpoint_info`` plus ``name`` (default: the method name), ``callable``
        (the method name) and ``docstring``; sorted by category, then endpoint."""
        out = []
        for attr, method, info in self.endpoint_methods():
            entry = dict(info)
            entry["name"] = info.get("name") or attr
            entry["callable"] = attr
            entry["docstring"] = inspect.getdoc(method)
            out.append(entry)
        out.sort(key=lambda e: (e.get("category") or "", e.get("endpoint") or ""))
        return out

    def api_directory(self) -> Dict[str, Any]:
        """``{"id", "display_name", "description", "endpoints"}`` for this proxy."""
        cls = type(self)
        return {
            "id": getattr(cls, "_proxy_path", cls.__name__),
            "display_name": getattr(cls, "_proxy_name", cls.__name__),
            "description": getattr(cls, "_proxy_description", ""),
            "endpoints": self.endpoint_directory(),
        }

    def auto_test(self) -> Dict[str, Dict[str, Any]]:
        """A light check of the endpoint metadata: ``{method name: {"status": "ok"|"warning", "issues": [...]}}``."""
        results = {}
        for entry in self.endpoint_directory():
            issues = []
            if not isinstance(entry.get("params"), dict):
                issues.append("params")
            if entry.get("response") is None:
                issues.append("response")
            results[entry["callable"]] = {"status": "warning" if issues else "ok", "issues": issues}
        return results


def ProxyRegistrator(
    path: str,
    name: str,
    description: str,  # noqa: N802 - the 0.1.x name
    runtime: Optional[Runtime] = None,
) -> Callable[[Type[_P]], Type[_P]]:
    """Class decorator: set ``_proxy_path/_proxy_name/_proxy_description`` and register the class under
    ``path`` in the explicit runtime, else the one being loaded, else the default one. During package
    discovery it lands in the loading package (``<pkg>.proxies:<path>``)."""

    def decorate(cls: Type[_P]) -> Type[_P]:
        cls._proxy_path = path
        cls._proxy_name = name
        cls._proxy_description = description
        rt = target_runtime(runtime)
        loading = current_loading(rt)
        if loading is not None:
            loading.register("proxy", path, cls)
        else:
            rt.register_proxy(path, cls, overwrite=True)
        return cls

    return decorate


def register_proxy(name: str, cls: type, overwrite: bool = False, runtime: Optional[Runtime] = None) -> None:
    """Register a proxy class under ``name`` (``ValueError`` if taken and not ``overwrite``)."""
    target_runtime(runtime).register_proxy(name, cls, overwrite=overwrite)


def load_builtin_proxies(
    modules: Optional[Iterable[str]] = None, runtime: Optional[Runtime] = None
) -> Tuple[List[str], Dict[str, str]]:
    """Import proxy modules (default ``BUILTIN_PROXY_MODULES``) so their proxies register in ``runtime``
    (explicit, else loading, else default). Never raises: returns ``(loaded modules, {module: error})``.

    A module imported earlier (into another runtime) has its ``@ProxyRegistrator`` classes registered
    here as well."""
    rt = target_runtime(runtime)
    loaded: List[str] = []
    errors: Dict[str, str] = {}
    for module_name in BUILTIN_PROXY_MODULES if modules is None else modules:
        token = loading_runtime.set(rt)
        try:
            module = importlib.import_module(module_name)
            for value in list(vars(module).values()):
                path = getattr(value, "_proxy_path", None)
                if (
                    isinstance(value, type)
                    and issubclass(value, BaseProxy)
                    and path
                    and "_proxy_path" in vars(value)
                    and value.__module__ == module.__name__
                    and not rt.has(path, "proxy")
                ):
                    rt.register_proxy(path, value)
            loaded.append(module_name)
        except (Exception, SystemExit) as e:  # noqa: BLE001 - reported, never raised
            errors[module_name] = f"{type(e).__name__}: {e}"
            logger.warning("proxy module %s failed to load: %s", module_name, errors[module_name])
        finally:
            loading_runtime.reset(token)
    return loaded, errors


__all__ = ["BaseProxy", "ProxyRegistrator", "register_proxy", "load_builtin_proxies", "BUILTIN_PROXY_MODULES"]

from lllm.lazy import lazy_exports as _lazy_exports  # noqa: E402 - 0.1.x names kept here

__getattr__ = _lazy_exports(__name__, {"ProxyManager": "lllm.proxies.manager"})
