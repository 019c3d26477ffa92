"""``ProxyManager`` (alias ``Proxy``): the active proxies of one agent, their documentation, and strict
dispatch of ``CALL_API(path, params)`` to ``@endpoint`` methods."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import logging
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Tuple, Union, cast

from lllm.errors import ConfigError, ProxyError
from lllm.packages.runtime import Runtime, target_runtime
from lllm.proxies.base import BaseProxy

logger = logging.getLogger("lllm.proxies")

RESPONSE_EXAMPLE_CHARS = 2000


class ProxyLookupError(KeyError):
    """An unknown proxy or endpoint; the message lists the choices."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def _param_spec(spec: Any) -> Tuple[str, Any]:
    """(type name, example) of one ``params`` entry: ``(type, example)``, a bare type, or a bare example."""
    if isinstance(spec, tuple) and spec:
        kind, example = spec[0], spec[1] if len(spec) > 1 else None
    elif isinstance(spec, type):
        kind, example = spec, None
    else:
        kind, example = type(spec), spec
    return getattr(kind, "__name__", str(kind)), example


def _json(value: Any, indent: Optional[int] = None) -> str:
    return json.dumps(value, indent=indent, default=str, ensure_ascii=False)


def _python(value: Any) -> str:
    """``value`` as a Python literal (``True``, ``None``), made of what JSON can hold: code to copy as written."""
    return repr(json.loads(_json(value)))


class _Endpoint:
    """One callable endpoint of a proxy."""

    __slots__ = ("attr", "info", "method", "required", "takes_dict", "accepted")

    def __init__(self, attr: str, method: Callable[..., Any], info: Dict[str, Any]):
        self.attr = attr
        self.info = info
        self.method = method
        self.required = [p[:-1] for p in (info.get("params") or {}) if p.endswith("*")]
        try:
            params: Optional[List[inspect.Parameter]] = list(inspect.signature(method).parameters.values())
        except (TypeError, ValueError):
            params = None
        self.takes_dict = params is not None and [p.name for p in params] == ["params"]  # 0.1.x: def ep(self, params)
        # The keyword arguments a keyword-style endpoint takes (None: any, it has **kwargs or no signature).
        keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        self.accepted = (
            None
            if params is None or any(p.kind is p.VAR_KEYWORD for p in params)
            else {p.name for p in params if p.kind in keyword}
        )

    @property
    def name(self) -> str:
        return self.info.get("endpoint") or self.attr

    def __call__(self, params: Dict[str, Any]) -> Any:
        value = self.method(params) if self.takes_dict else self.method(**params)
        if inspect.isawaitable(value):  # an ``async def`` endpoint: run here (CALL_API is answered in a thread)
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return asyncio.run(_awaited(value))
            if inspect.iscoroutine(value):
                value.close()
            raise TypeError(
                f"endpoint '{self.name}' is async and an event loop is running in this thread; "
                f"call the ProxyManager from a thread without one (CALL_API and run_python do)"
            )
        return value


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


class ProxyManager:
    """Instantiates the active proxies of a runtime and dispatches calls to them.

    ``activate_proxies`` entries match a proxy's qualified key, bare key or ``_proxy_path``; empty means
    all registered proxies. An entry that matches nothing, or two active proxies sharing a bare key,
    raise ``ConfigError``; a proxy whose constructor fails raises ``ProxyError``."""

    def __init__(
        self,
        activate_proxies: Optional[List[str]] = None,
        cutoff_date: Union[str, dt.date, None] = None,
        deploy_mode: bool = False,
        runtime: Optional[Runtime] = None,
    ):
        if isinstance(activate_proxies, str):
            activate_proxies = [activate_proxies]
        self.runtime = target_runtime(runtime)
        self.activate_proxies = list(activate_proxies or [])
        self.cutoff_date = cutoff_date
        self.deploy_mode = deploy_mode
        self.proxies: Dict[str, BaseProxy] = {}
        self._aliases: Dict[str, str] = {}
        self._endpoints: Dict[str, Tuple[Dict[str, _Endpoint], Dict[str, _Endpoint]]] = {}
        self._load()

    # -- construction ----------------------------------------------------------------------------
    def _registered(self) -> List[str]:
        out = []
        for node in self.runtime.iter_nodes("proxy"):
            path = getattr(node.value, "_proxy_path", None)
            out.append(node.qualified_key if path in (None, node.key) else f"{node.qualified_key} (path '{path}')")
        return sorted(out)

    def _load(self) -> None:
        wanted = self.activate_proxies
        nodes = list(self.runtime.iter_nodes("proxy"))
        selected, matched = [], set()
        for node in nodes:
            names = {node.qualified_key, node.key, getattr(node.value, "_proxy_path", None)}
            hits = [w for w in wanted if w in names]
            matched.update(hits)
            if hits or not wanted:
                selected.append(node)
        unmatched = [w for w in wanted if w not in matched]
        if unmatched:
            raise ConfigError(
                f"activate_proxies: no proxy named {unmatched} in runtime '{self.runtime.name}'. "
                f"Available proxies: {self._registered()}"
            )
        clashes = sorted(k for k, n in Counter(node.key for node in selected).items() if n > 1)
        if clashes:
            keys = sorted(n.qualified_key for n in selected if n.key in clashes)
            raise ConfigError(
                f"activate_proxies: several active proxies share the id(s) {clashes}: {keys}. "
                f"Activate only one of them, by its qualified key."
            )
        for node in selected:
            self._add(node.key, node.value)
            self._aliases.setdefault(node.qualified_key, node.key)

    def _instantiate(self, name: str, cls: Any) -> BaseProxy:
        kwargs = {
            "activate_proxies": list(self.activate_proxies),
            "cutoff_date": self.cutoff_date,
            "deploy_mode": self.deploy_mode,
        }
        try:
            try:
                inspect.signature(cls).bind(**kwargs)
            except TypeError:  # a constructor without the standard keyword arguments (a TypeError raised
                return cast(BaseProxy, cls())  # inside a constructor that takes them is reported, not retried)
            except ValueError:  # no signature to inspect: try the standard arguments
                pass
            return cast(BaseProxy, cls(**kwargs))
        except Exception as e:
            raise ProxyError(
                f"Proxy '{name}' ({getattr(cls, '__qualname__', cls)!s}) could not be constructed: "
                f"{type(e).__name__}: {e}"
            ) from e

    def _add(self, name: str, cls: Any) -> None:
        self.proxies[name] = self._instantiate(name, cls)
        self._endpoints.pop(name, None)
        path = getattr(cls, "_proxy_path", None)
        if path and path != name:
            self._aliases.setdefault(path, name)

    def register(self, name: str, cls: Any) -> None:
        """Instantiate ``cls`` and make it callable as ``name`` (replacing a proxy of that name)."""
        if name in self.proxies:
            logger.warning("ProxyManager: replacing proxy '%s'", name)
        self._add(name, cls)

    # -- lookup ----------------------------------------------------------------------------------
    def available(self) -> List[str]:
        """The ids of the active proxies."""
        return sorted(self.proxies)

    def _id(self, name: str) -> str:
        if name in self.proxies:
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise ProxyLookupError(f"Proxy '{name}' not found. Available proxies: {self.available()}")

    def _endpoint_maps(self, pid: str) -> Tuple[Dict[str, _Endpoint], Dict[str, _Endpoint]]:
        maps = self._endpoints.get(pid)
        if maps is None:
            eps = [_Endpoint(attr, m, info) for attr, m, info in self.proxies[pid].endpoint_methods()]
            maps = self._endpoints[pid] = ({e.name.strip("/"): e for e in eps}, {e.attr: e for e in eps})
        return maps

    def _resolve(self, path: str) -> Tuple[str, _Endpoint]:
        if not isinstance(path, str) or not path.strip("/"):
            raise ProxyLookupError(
                f"CALL_API path must look like '<proxy>/<endpoint>', got {path!r}. "
                f"Available proxies: {self.available()}"
            )
        path = path.strip().strip("/")
        best = None
        for name in [*self.proxies, *self._aliases]:
            if (path == name or path.startswith(name + "/") or path.startswith(name + ".")) and (
                best is None or len(name) > len(best)
            ):
                best = name
        if best is None:
            raise ProxyLookupError(f"No proxy matches '{path}'. Available proxies: {self.available()}")
        pid = self._id(best)
        rest = path[len(best) + 1 :].strip("/")
        by_endpoint, by_method = self._endpoint_maps(pid)
        found = by_endpoint.get(rest) or by_method.get(rest)
        if found is None:
            raise ProxyLookupError(f"Proxy '{pid}' has no endpoint '{rest}'. Endpoints: {sorted(by_endpoint)}")
        return pid, found

    def __call__(self, path: str, params: Optional[Dict[str, Any]] = None, **kw: Any) -> Any:
        """Call ``"<proxy id>/<endpoint>"``: the longest matching proxy id, then an endpoint name (or the
        name of an ``@endpoint`` method). A missing required parameter raises ``ValueError``. An ``async def``
        endpoint is run to completion (from a thread without a running event loop, as ``CALL_API`` is)."""
        pid, ep = self._resolve(path)
        if params is not None and not isinstance(params, dict):
            raise TypeError(f"params for '{pid}/{ep.name}' must be a dict, got {type(params).__name__}")
        merged = {**(params or {}), **kw}
        missing = [p for p in ep.required if p not in merged]
        if missing:
            raise ValueError(
                f"Endpoint '{pid}/{ep.name}' is missing required parameter(s) {missing}; "
                f"got {sorted(merged)}. Parameters: {self._param_line(ep.info)}"
            )
        unknown = [] if ep.takes_dict or ep.accepted is None else sorted(set(merged) - ep.accepted)
        if unknown:
            raise ValueError(
                f"Endpoint '{pid}/{ep.name}' has no parameter(s) {unknown}. Parameters: {self._param_line(ep.info)}"
            )
        return ep(merged)

    # -- documentation ---------------------------------------------------------------------------
    def api_catalog(self) -> Dict[str, Dict[str, Any]]:
        """``{proxy id: api_directory()}`` for every active proxy."""
        return {pid: self.proxies[pid].api_directory() for pid in self.available()}

    def get_api_directory(self, name: str) -> Dict[str, Any]:
        return self.proxies[self._id(name)].api_directory()

    @staticmethod
    def _param_line(info: Dict[str, Any]) -> str:
        params = info.get("params") or {}
        return ", ".join(f"{p[:-1]} (required)" if p.endswith("*") else p for p in params) or "none"

    def retrieve_api_docs(self, name: Optional[str] = None) -> str:
        """A compact overview: per proxy its description and one line per endpoint."""
        sections = []
        for pid in [self._id(name)] if name is not None else self.available():
            meta = self.proxies[pid].api_directory()
            lines = [f"## {meta['display_name']} (id: {pid})"]
            if (meta.get("description") or "").strip():
                lines.append(meta["description"].strip())
            for ep in meta["endpoints"]:
                lines.append(
                    f"- {pid}/{ep.get('endpoint') or ep['callable']} [{(ep.get('method') or 'GET').upper()}]: "
                    f"{(ep.get('description') or '').strip()} Params: {self._param_line(ep)}"
                )
            sections.append("\n".join(lines))
        return "\n\n".join(sections)

    def endpoint_docs(self, name: str) -> str:
        """Full documentation of one proxy: per endpoint the call, each parameter (type, required,
        example), a response example (JSON, at most 2000 characters) and the docstring; then the
        proxy's ``additional_docs``."""
        pid = self._id(name)
        proxy = self.proxies[pid]
        meta = proxy.api_directory()
        out = [f"# {meta['display_name']} (id: {pid})"]
        if (meta.get("description") or "").strip():
            out.append(meta["description"].strip())
        out.append(
            f'Call an endpoint inside run_python with CALL_API("{pid}/<endpoint>", {{...params}}); '
            f"it returns the response as Python data."
        )
        for ep in meta["endpoints"]:
            endpoint = ep.get("endpoint") or ep["callable"]
            where = " / ".join(x for x in (ep.get("category"), ep.get("sub_category")) if x)
            lines = [f"## {endpoint} [{(ep.get('method') or 'GET').upper()}]" + (f" ({where})" if where else "")]
            if (ep.get("description") or "").strip():
                lines.append(ep["description"].strip())
            params = ep.get("params") or {}
            examples = {}
            param_lines = []
            for key, spec in params.items():
                pname, required = (key[:-1], True) if key.endswith("*") else (key, False)
                type_name, example = _param_spec(spec)
                examples[pname] = example
                shown = f", e.g. {_json(example)}" if example is not None else ""
                param_lines.append(f"- {pname} ({type_name}, {'required' if required else 'optional'}){shown}")
            lines.append(f"Call: CALL_API({f'{pid}/{endpoint}'!r}, {_python(examples)})")
            lines.append("Parameters:\n" + "\n".join(param_lines) if param_lines else "Parameters: none")
            if ep.get("response") is not None:
                text = _json(ep["response"], indent=2)
                if len(text) > RESPONSE_EXAMPLE_CHARS:
                    text = text[:RESPONSE_EXAMPLE_CHARS] + "\n... (example truncated)"
                lines.append("Response example:\n" + text)
            if ep.get("docstring"):
                lines.append("Notes:\n" + ep["docstring"])
            out.append("\n".join(lines))
        extra = getattr(proxy, "additional_docs", None) or {}
        if extra:
            sections = "\n\n".join(f"## {title}\n{text}" for title, text in extra.items())
            out.append("# Additional documentation\n" + sections)
        return "\n\n".join(out)

    def __repr__(self) -> str:
        return f"ProxyManager({self.available()})"


Proxy = ProxyManager

__all__ = ["ProxyManager", "Proxy", "ProxyLookupError", "RESPONSE_EXAMPLE_CHARS"]
