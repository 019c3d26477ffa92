"""Tactic tools (§2.7): a whole tactic offered to an agent as one tool.

``@tactictool`` marks a Tactic method (usually ``call``) with a tool name and, optionally, its input
model and config; ``build_tactic_function`` turns a tactic reference into a ``Function`` whose every
call builds a fresh tactic in the caller's runtime and records the child session under the parent's
``sub_tactic_sessions[<tool name>]``."""

from __future__ import annotations

import contextvars
import copy
import inspect
import re
import typing
import warnings
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, Type, TypeVar, Union

from pydantic import BaseModel, ValidationError

from lllm.core import wiring
from lllm.core.tools import Function, validation_errors

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.protocols import RuntimeLike
    from lllm.core.tactic import Tactic

_F = TypeVar("_F", bound=Callable[..., Any])
ConfigRef = Union[Dict[str, Any], str, None]
"""A tactic tool's config: the config itself, the name of one, or ``None`` for the tactic's default."""

MAX_TACTIC_DEPTH = 8
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("lllm_tactic_tool_depth", default=0)
_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]")
_variants: "weakref.WeakKeyDictionary[type, Dict[str, type]]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class TacticToolSpec:
    """What ``@tactictool`` attaches to a method."""

    name: str
    description: Optional[str] = None
    input_model: Optional[Type[BaseModel]] = None
    output_model: Optional[Type[BaseModel]] = None
    config: ConfigRef = None


def tactictool(
    name: str,
    *,
    description: Optional[str] = None,
    input_model: Optional[Type[BaseModel]] = None,
    output_model: Optional[Type[BaseModel]] = None,
    config: ConfigRef = None,
) -> Callable[[_F], _F]:
    """Mark a Tactic method (usually ``call``) as a tool named ``name``."""
    if callable(name) or not isinstance(name, str):
        raise TypeError("@tactictool needs a tool name: write @tactictool('name', ...), not a bare @tactictool")
    if not name.strip():
        raise ValueError("@tactictool: the tool name must not be empty")
    for label, model in (("input_model", input_model), ("output_model", output_model)):
        if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"@tactictool('{name}'): {label} must be a pydantic model class, got {model!r}")
    spec = TacticToolSpec(name, description, input_model, output_model, config)

    def mark(method: _F) -> _F:
        method._lllm_tactictool = spec  # type: ignore[attr-defined]
        return method

    return mark


def tactic_tools(cls: Type["Tactic"]) -> Dict[str, Tuple[str, TacticToolSpec]]:
    """The decorated methods of a tactic class: ``{tool name: (method name, spec)}``."""
    out: Dict[str, Tuple[str, TacticToolSpec]] = {}
    for attr in dir(cls):
        spec = getattr(getattr(cls, attr, None), "_lllm_tactictool", None)
        if isinstance(spec, TacticToolSpec):
            out[spec.name] = (attr, spec)
    return out


def _select(cls: Type["Tactic"], selector: Optional[str], label: str) -> Tuple[str, Optional[TacticToolSpec]]:
    """(method name, spec or None) for ``label#selector``."""
    tools = tactic_tools(cls)
    if selector is not None:
        if selector == "root":
            selector = "call"
        if selector in tools:
            return tools[selector]
        for method, spec in tools.values():
            if method == selector:
                return method, spec
        if selector == "call":
            return "call", None
        raise ValueError(
            f"Tactic '{label}' has no tool or method '{selector}'. Tools: {sorted(tools)} (or '#root' for call)"
        )
    on_call = [t for t in tools.values() if t[0] == "call"]
    if on_call:
        return on_call[0]
    if len(tools) == 1:
        return next(iter(tools.values()))
    if len(tools) > 1:
        raise ValueError(f"Tactic '{label}' has several tools {sorted(tools)}; pick one with '#<name>'")
    warnings.warn(
        f"Tactic '{label}' has no @tactictool method; offering its call() as the tool", RuntimeWarning, stacklevel=4
    )
    return "call", None


def _variant(cls: Type["Tactic"], method: str) -> Type["Tactic"]:
    """``cls`` whose ``call`` is ``method`` (unregistered), so the usual call machinery runs it."""
    if method == "call":
        return cls
    by_method = _variants.setdefault(cls, {})
    if method not in by_method:
        by_method[method] = type(
            cls.__name__,
            (cls,),
            {"call": getattr(cls, method), "__module__": cls.__module__, "__qualname__": cls.__qualname__},
            register=False,
        )
    return by_method[method]


def _first_model_param(fn: Callable[..., Any]) -> Optional[Type[BaseModel]]:
    """The model class annotating ``fn``'s first BaseModel parameter (after ``self``), if any."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable annotations: no model
        return None
    for p in list(inspect.signature(fn).parameters)[1:]:
        hint = hints.get(p)
        if isinstance(hint, type) and issubclass(hint, BaseModel):
            return hint
    return None


def _describe(
    cls: Type["Tactic"], method: Callable[..., Any], spec: Optional[TacticToolSpec], description: Optional[str]
) -> str:
    own_doc = method.__doc__ if method is not getattr(_tactic_base(), "call", None) else None
    text = (
        description
        or (spec.description if spec else None)
        or inspect.cleandoc(own_doc or "")
        or inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    )
    if not text:
        text = f"Run the '{cls.name}' tactic on a task and return its result."
        warnings.warn(
            f"Tactic tool for '{cls.name}' has no description; using {text!r}. Give the method or "
            f"class a docstring, or pass description=...",
            RuntimeWarning,
            stacklevel=4,
        )
    return text


def _tactic_base() -> type:
    from lllm.core.tactic import Tactic

    return Tactic


def default_config_keys(package: Optional[str], key: str) -> List[str]:
    """Where a tactic's config is looked up when none is named: its own key, then ``default``, in its
    package's ``configs`` section (``lllm run`` and tactic tools pick it the same way)."""
    return [f"{package}.configs:{key}", f"{package}.configs:default"] if package else [key, "default"]


def find_tactic_config(
    rt: RuntimeLike,
    package: Optional[str],
    key: str,
    name: Optional[str] = None,
    needs_config: bool = True,
    label: str = "",
) -> Dict[str, Any]:
    """The config a tactic runs with: ``name`` (looked up in its package first), else the first of
    ``default_config_keys`` that exists, else ``{}`` for a tactic without agents. A tactic that needs
    one and has none raises a ``ConfigError`` naming the keys tried."""
    from lllm.errors import ConfigError

    resolve_config = wiring.services.resolve_config
    if name:
        local = f"{package}.configs:{name}"
        return resolve_config(local if package and ":" not in name and rt.has(local, "config") else name, rt)
    tried = default_config_keys(package, key)
    for candidate in tried:
        if rt.has(candidate, "config"):
            return resolve_config(candidate, rt)
    if needs_config:
        raise ConfigError(
            f"No config for tactic '{label or key}' (tried {tried}; configs: {rt.keys('config')}). "
            f"Add configs/{key}.yaml to its package, or name one (--config NAME, "
            f"@tactictool(..., config=NAME) or config=...)."
        )
    return {}


def _config_for(
    config: ConfigRef, package: Optional[str], rt: RuntimeLike, label: str, cls: Type["Tactic"], key: str
) -> Dict[str, Any]:
    if isinstance(config, dict):
        return copy.deepcopy(config)
    if isinstance(config, str):
        return find_tactic_config(rt, package, key, config, label=label)
    if config is None:
        return find_tactic_config(rt, package, key, needs_config=bool(getattr(cls, "agent_group", None)), label=label)
    raise TypeError(f"Tactic tool '{label}': config must be a dict or a config name, got {type(config).__name__}")


def _to_text(result: Any) -> str:
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    if isinstance(result, (dict, list)):
        import json

        try:
            return json.dumps(result)
        except (TypeError, ValueError):
            return str(result)
    return str(result)


def build_tactic_function(
    ref: "str | type",
    *,
    runtime: Optional[RuntimeLike] = None,
    config: ConfigRef = None,
    name: Optional[str] = None,
    description: Optional[str] = None,
) -> Function:
    """A ``Function`` running a tactic: ``ref`` is ``pkg.tactics:key[#sel]`` (or a key) or a Tactic class.

    The config: ``config`` here, else the decorator's (a dict as is, a name looked up in the tactic's
    package first), else the one ``lllm run`` would pick (``configs:<tactic key>``, then ``configs:default``)."""
    from lllm.core.tactic import Tactic, stable_tactic_id

    rt = runtime or wiring.services.default_runtime()
    if isinstance(ref, str):
        url, _, selector = ref.partition("#")
        node = rt.get_node(url, "tactic")
        cls, namespace, label, key = node.value, node.namespace, ref, node.key
    elif isinstance(ref, type) and issubclass(ref, Tactic):
        selector, label = "", ref.name or ref.__name__
        found = next((n for n in rt.iter_nodes("tactic") if n.value is ref), None)
        cls, namespace = ref, found.namespace if found is not None else ""
        key = found.key if found is not None else (ref.name or ref.__name__)
    else:
        raise TypeError(f"build_tactic_function: ref must be a tactic URL or a Tactic class, got {ref!r}")
    method_name, spec = _select(cls, selector or None, label)
    method = getattr(cls, method_name)
    package = namespace.partition(".")[0] or None
    cfg = _config_for(config if config is not None else (spec.config if spec else None), package, rt, label, cls, key)
    tool_name = name or (spec.name if spec else _NOT_NAME.sub("_", cls.name)[:64])
    input_model = spec.input_model if spec and spec.input_model else _first_model_param(method)
    text = _describe(cls, method, spec, description)
    if input_model is not None:
        schema = input_model.model_json_schema()
        decl = Function(
            tool_name, text, schema.get("properties", {}), schema.get("required", []), defs=schema.get("$defs")
        )
    else:
        # an unannotated task is a string by the Tactic.call convention: nothing to warn about
        decl = Function.from_callable(method, name=tool_name, description=text, warn_untyped=False)
    params = [
        p.name
        for p in list(inspect.signature(method).parameters.values())[1:]
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    runner = _Runner(
        _variant(cls, method_name),
        cfg,
        rt,
        stable_tactic_id(namespace, cls.name),
        tool_name,
        input_model,
        spec.output_model if spec else None,
        params,
    )
    fn = Function(decl.name, decl.description, decl.properties, decl.required, strict=decl.strict, defs=decl.defs)
    fn.function = runner
    return fn


class _Runner:
    """The implementation of a tactic tool: one fresh tactic per call, depth-limited."""

    def __init__(
        self,
        cls: Type["Tactic"],
        config: Dict[str, Any],
        runtime: RuntimeLike,
        tactic_path: str,
        tool_name: str,
        input_model: Optional[Type[BaseModel]],
        output_model: Optional[Type[BaseModel]],
        params: List[str],
    ):
        self.cls, self.config, self.runtime, self.tactic_path = cls, config, runtime, tactic_path
        self.tool_name, self.input_model, self.output_model, self.params = tool_name, input_model, output_model, params
        self.__name__ = tool_name
        self.__doc__ = None

    def __call__(self, **kwargs: Any) -> str:
        depth = _depth.get()
        if depth >= MAX_TACTIC_DEPTH:
            raise RuntimeError(
                f"tactic tool '{self.tool_name}' would nest deeper than max_tactic_depth={MAX_TACTIC_DEPTH}"
            )
        token = _depth.set(depth + 1)
        try:
            tactic = self.cls(copy.deepcopy(self.config), runtime=self.runtime, tactic_path=self.tactic_path)
            tactic.record_as = self.tool_name  # the parent records the child session under the tool name
            task: Any
            if self.input_model is not None:
                try:
                    task = self.input_model.model_validate(kwargs)
                except ValidationError as e:
                    raise ValueError(
                        f"invalid arguments for tool '{self.tool_name}': {'; '.join(validation_errors(e))}"
                    ) from None
                result = tactic(task)
            else:
                task = kwargs.pop(self.params[0], None) if self.params else None
                result = tactic(task, **kwargs)
        finally:
            _depth.reset(token)
        if self.output_model is not None and not isinstance(result, BaseModel):
            result = self.output_model.model_validate(result)
        return _to_text(result)


def build_tactic_endpoint_info(
    ref: "str | type",
    *,
    runtime: Optional[RuntimeLike] = None,
    config: ConfigRef = None,
    category: str = "tactics",
    name: Optional[str] = None,
) -> Dict[str, Any]:
    """A proxy endpoint description (``method="TACTIC"``) for a tactic tool, in the ``endpoint_info`` shape."""
    fn = build_tactic_function(ref, runtime=runtime, config=config, name=name)
    params = {
        (p + ("*" if p in fn.required else "")): (s.get("type", "object"), s.get("description", ""))
        for p, s in fn.properties.items()
    }
    return {
        "category": category,
        "endpoint": fn.name,
        "name": fn.name,
        "description": fn.description,
        "params": params,
        "response": {},
        "method": "TACTIC",
        "tactic": ref if isinstance(ref, str) else getattr(ref, "name", ""),
        "function": fn,
    }


def call_tactic_proxy_endpoint(info: Dict[str, Any], params: Optional[Dict[str, Any]] = None) -> str:
    """Call an endpoint made by ``build_tactic_endpoint_info``; errors come back as ``Error: …`` text."""
    from lllm.core.message import FunctionCall

    fn: Function = info["function"]
    done = fn(FunctionCall(id=f"tactic_{fn.name}", name=fn.name, arguments=dict(params or {})))
    return done.result if done.error_message is None else (done.result_str or "")


__all__ = [
    "tactictool",
    "build_tactic_function",
    "find_tactic_config",
    "default_config_keys",
    "build_tactic_endpoint_info",
    "call_tactic_proxy_endpoint",
    "tactic_tools",
    "TacticToolSpec",
    "MAX_TACTIC_DEPTH",
    "ConfigRef",
]
