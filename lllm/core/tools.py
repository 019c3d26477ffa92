"""Tools a model can call: ``Function`` (a JSON-Schema declaration plus an optional implementation),
the ``@tool`` decorator that derives the schema from a Python signature with pydantic, and ``MCP``."""

from __future__ import annotations

import asyncio
import copy
import inspect
import re
import sys
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union, cast

from pydantic import ValidationError

from lllm.core.aio import run_in_daemon_thread
from lllm.core.message import FunctionCall
from lllm.core.tool_schema import (
    _EMPTY,
    _ArgSpec,
    _callable_name,
    _doc_text,
    _is_null,
    _signature,
    _spec_for,
    _tool_params,
    drop_optional_nulls,
    strict_json_schema,
    validation_errors,
    warn_at,
)
from lllm.errors import ToolBindingError

Processor = Callable[[Any, FunctionCall], str]
_NAME_OK = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


def default_processor(result: Any, call: FunctionCall) -> str:
    """The text the model sees for a successful call."""
    return f"Return of calling function {call.name} with arguments {call.arguments}:\n---\n{result}\n---\n"


# ---------------------------------------------------------------------------------------------
# Function
# ---------------------------------------------------------------------------------------------

_SCHEMA_FIELDS = frozenset({"name", "description", "properties", "required", "additional_properties", "strict", "defs"})


class Function:
    """A tool: its JSON-Schema declaration, and (once linked) the Python callable that implements it.

    Calling it with a ``FunctionCall`` validates the arguments, runs the implementation and
    returns a new ``FunctionCall`` holding the result (or the error) for the model."""

    def __init__(
        self,
        name: str,
        description: str,
        properties: Dict[str, Any],
        required: Optional[List[str]] = None,
        additional_properties: bool = False,
        strict: bool = True,
        function: Optional[Callable[..., Any]] = None,
        processor: Optional[Processor] = None,
        *,
        defs: Optional[Dict[str, Any]] = None,
    ):
        if not isinstance(name, str) or not _NAME_OK.match(name):
            raise ValueError(f"Tool name {name!r} must match [A-Za-z0-9_-]{{1,64}} (providers reject other names)")
        if not isinstance(properties, dict):
            raise TypeError(
                f"Tool '{name}': properties must be a dict of JSON Schemas, got {type(properties).__name__}"
            )
        required = list(required or [])
        unknown = [r for r in required if r not in properties]
        if unknown:
            raise ValueError(f"Tool '{name}': required names {unknown} are not among its properties {list(properties)}")
        self.name = name
        self.description = description or name
        self.properties = properties
        self.required = required
        self.additional_properties = additional_properties
        self.strict = strict
        self.defs = defs or {}
        self.processor: Processor = processor or default_processor
        self.function: Optional[Callable[..., Any]] = None
        if function is not None:
            self.link_function(function)

    def __setattr__(self, key: str, value: Any) -> None:
        object.__setattr__(self, key, value)
        if key in _SCHEMA_FIELDS:  # schemas are derived lazily and cached; a new value invalidates them
            object.__setattr__(self, "_cache", {})
        elif key == "function":  # keep the argument validator in step with the implementation
            object.__setattr__(self, "_spec", None if value is None else _spec_for(value))

    def __repr__(self) -> str:
        return f"Function(name={self.name!r}, params={list(self.properties)}, linked={self.linked})"

    # -- construction from Python ------------------------------------------------------------

    @classmethod
    def from_callable(
        cls,
        fn: Callable[..., Any],
        *,
        name: Optional[str] = None,
        description: Optional[str] = None,
        prop_desc: Optional[Dict[str, str]] = None,
        strict: bool = True,
        processor: Optional[Processor] = None,
        localns: Optional[Dict[str, Any]] = None,
        warn_untyped: bool = True,
    ) -> "Function":
        """Derive the declaration from ``fn``'s signature (types via pydantic) and docstring, and link ``fn``.

        String annotations naming local classes resolve in ``localns`` (default: the caller's locals). A
        parameter without annotation is asked of the model as a string, with a warning unless ``warn_untyped``
        is false."""
        if not callable(fn) or isinstance(fn, Function):
            raise TypeError(f"Function.from_callable expects a plain callable, got {type(fn).__name__}")
        tool_name = name or _callable_name(fn)
        sig = _signature(fn, sys._getframe(1).f_locals if localns is None else localns)
        params = _tool_params(sig)
        names = [p.name for p in params]
        unknown = sorted(set(prop_desc or {}) - set(names))
        if unknown:
            raise ValueError(
                f"prop_desc for tool '{tool_name}' names unknown parameter(s) {unknown}; its parameters are {names}"
            )
        spec = _spec_for(fn, sig)
        for p in params if warn_untyped else ():
            if p.annotation is _EMPTY:
                warn_at(
                    spec.site,
                    f"Tool '{tool_name}': parameter '{p.name}' has no type annotation, so the model is asked for "
                    f"a string. Annotate it ({p.name}: int, {p.name}: list[str], a BaseModel...), or "
                    f"{p.name}: str to keep the string and silence this warning.",
                    3 if sys._getframe(1).f_globals.get("__name__") == __name__ else 2,  # @tool: its user
                )
        func = cls(tool_name, description or tool_name, {}, strict=strict, processor=processor)
        func.function = fn
        # The JSON Schema and the docstring's texts are derived on first use (see __getattr__), so defining
        # many tools is cheap, and a process that never sends a tool never loads the docstring parser.
        object.__setattr__(func, "required", [p.name for p in params if p.default is _EMPTY])
        object.__setattr__(func, "_pending", (fn, spec, params, prop_desc or {}))
        for key in ("properties", "defs") if description else ("properties", "defs", "description"):
            del func.__dict__[key]
        return func

    def __getattr__(self, key: str) -> Any:
        """Builds ``properties``/``defs`` (and ``description``, from the docstring) of a tool made by
        ``from_callable`` when first read."""
        pending = self.__dict__.get("_pending")
        if key not in ("properties", "defs", "description") or pending is None:
            raise AttributeError(f"'Function' object has no attribute '{key}'")
        fn, spec, params, prop_desc = pending
        doc, doc_params = _doc_text(fn)
        if "description" not in self.__dict__:
            object.__setattr__(self, "description", doc or self.name)
        descriptions = {**doc_params, **prop_desc}
        schema = spec.schema
        properties: Dict[str, Any] = {}
        for p in params:
            prop = {k: v for k, v in schema["properties"][p.name].items() if k not in ("title", "default")}
            if p.default is not _EMPTY:  # optional anyway: Optional[X] is declared as X
                branches = [s for s in prop.get("anyOf", ()) if not _is_null(s)]
                if "anyOf" in prop and len(branches) == 1 and len(prop["anyOf"]) == 2:
                    prop = {**{k: v for k, v in prop.items() if k != "anyOf"}, **branches[0]}
            text = descriptions.get(p.name, "")
            if p.default is not _EMPTY:
                text = f"{text} (default: {p.default!r})".strip()
            if text:
                prop["description"] = text
            properties[p.name] = prop
        object.__setattr__(self, "properties", properties)
        object.__setattr__(self, "defs", schema.get("$defs") or {})
        del self.__dict__["_pending"]
        return self.__dict__[key]

    # -- implementation ----------------------------------------------------------------------

    @property
    def linked(self) -> bool:
        return self.function is not None

    def link_function(self, fn: Callable[..., Any]) -> None:
        """Attach the implementation (mutates this Function; see ``bind`` for a copy)."""
        if not callable(fn):
            raise TypeError(f"Tool '{self.name}': link_function expects a callable, got {type(fn).__name__}")
        self.function = fn

    def bind(self, impl: "Callable[..., Any] | Function") -> "Function":
        """A copy of this declaration implemented by ``impl`` (a callable, or a ``Function`` whose
        callable and processor are taken). Raises ``ToolBindingError`` if ``impl`` cannot accept a
        declared required parameter or has no implementation."""
        if isinstance(impl, Function):
            if impl.function is None:
                raise ToolBindingError(f"Tool '{self.name}' cannot be bound to '{impl.name}': it has no implementation")
            fn, processor = impl.function, impl.processor
        elif callable(impl):
            fn, processor = impl, self.processor
        else:
            raise TypeError(f"Tool '{self.name}': bind expects a callable or Function, got {type(impl).__name__}")
        spec = _spec_for(fn)
        if spec.accepts is not None:
            missing = [r for r in self.required if r not in spec.accepts]
            if missing:
                raise ToolBindingError(
                    f"Tool '{self.name}': the implementation {_callable_name(fn)} "
                    f"does not accept required parameter(s) {missing}; "
                    f"it accepts {sorted(spec.accepts)}"
                )
        bound = copy.copy(self)
        bound.processor = processor
        bound.function = fn
        return bound

    # -- schemas -----------------------------------------------------------------------------

    @property
    def parameters(self) -> Dict[str, Any]:
        """The (non-strict) JSON Schema of the arguments."""
        cache = self._cache
        if "parameters" not in cache:
            params: Dict[str, Any] = {
                "type": "object",
                "properties": self.properties,
                "required": list(self.required),
                "additionalProperties": self.additional_properties,
            }
            if self.defs:
                params["$defs"] = self.defs
            cache["parameters"] = params
        return cast(Dict[str, Any], cache["parameters"])

    @property
    def strict_parameters(self) -> Optional[Dict[str, Any]]:
        """The strict-mode schema, or ``None`` when the arguments cannot be expressed strictly (e.g. a dict)."""
        cache = self._cache
        if "strict" not in cache:
            cache["strict"] = strict_json_schema(self.parameters)
        return cast(Optional[Dict[str, Any]], cache["strict"])

    def to_tool(self, invoker: object = None) -> Dict[str, Any]:
        """The OpenAI function tool (cached and shared: do not mutate). A ``strict`` tool whose schema
        cannot be strict (free-form dicts, ``Any``) is sent non-strict rather than rejected. ``invoker``
        (0.1.x) is accepted and ignored: every invoker takes this shape and converts it itself."""
        cache = self._cache
        if "tool" not in cache:
            fn: Dict[str, Any] = {"name": self.name, "description": self.description}
            strict = self.strict_parameters if self.strict else None
            fn["parameters"] = strict if strict is not None else self.parameters
            fn["strict"] = strict is not None
            cache["tool"] = {"type": "function", "function": fn}
        return cast(Dict[str, Any], cache["tool"])

    # -- execution ---------------------------------------------------------------------------

    def _prepare(self, call: FunctionCall) -> Union[Tuple[_ArgSpec, Callable[..., Any], Dict[str, Any]], str]:
        """(argument spec, implementation, keyword arguments), or what is wrong with the arguments."""
        spec, fn = self._spec, self.function
        if spec is None or fn is None:
            raise ToolBindingError(
                f"Tool '{self.name}' has no implementation; link one with "
                f"link_function(fn), Prompt.with_functions({self.name}=fn) or a package tool."
            )
        args = drop_optional_nulls(call.arguments, self.parameters, self.defs)
        try:
            if spec.model is None:
                missing = [r for r in self.required if r not in args]
                if missing:
                    return "; ".join(f"{m}: Field required" for m in missing)
                return spec, fn, dict(args)
            return spec, fn, spec.validate(args)
        except ValidationError as e:
            return "; ".join(validation_errors(e))

    def _result(self, call: FunctionCall, start: float, value: Any) -> FunctionCall:
        try:
            text = self.processor(value, call)
        except Exception as e:
            return self._error(call, start, e)
        return call.model_copy(
            update={
                "result": value,
                "result_str": text,
                "error_message": None,
                "duration_s": time.perf_counter() - start,
            }
        )

    @staticmethod
    def _error(call: FunctionCall, start: float, e: BaseException) -> FunctionCall:
        msg = str(e) or repr(e)
        return call.model_copy(
            update={"error_message": msg, "result_str": f"Error: {msg}", "duration_s": time.perf_counter() - start}
        )

    def _invalid(self, call: FunctionCall, start: float, details: str) -> FunctionCall:
        msg = f"invalid arguments for tool '{self.name}': {details}"
        return call.model_copy(
            update={"error_message": msg, "result_str": f"Error: {msg}", "duration_s": time.perf_counter() - start}
        )

    def __call__(self, call: FunctionCall) -> FunctionCall:
        """Run the tool synchronously (a coroutine implementation runs via ``asyncio.run``)."""
        start = time.perf_counter()
        prepared = self._prepare(call)
        if isinstance(prepared, str):
            return self._invalid(call, start, prepared)
        spec, fn, kwargs = prepared
        if spec.is_async and _loop_running():
            raise RuntimeError(
                f"Tool '{self.name}' is async and an event loop is running; use `await tool.acall(call)`."
            )
        try:
            value = spec.invoke(fn, kwargs)
            if inspect.isawaitable(value):
                value = _run_awaitable(value, self.name)
        except Exception as e:
            return self._error(call, start, e)
        return self._result(call, start, value)

    async def acall(self, call: FunctionCall) -> FunctionCall:
        """Run the tool on the running loop (a sync implementation runs in a worker thread)."""
        start = time.perf_counter()
        prepared = self._prepare(call)
        if isinstance(prepared, str):
            return self._invalid(call, start, prepared)
        spec, fn, kwargs = prepared
        try:
            if spec.is_async:
                value = await spec.invoke(fn, kwargs)
            else:
                value = await run_in_daemon_thread(spec.invoke, fn, kwargs)  # stuck, it does not hold up exit
                if inspect.isawaitable(value):
                    value = await value
        except Exception as e:
            return self._error(call, start, e)
        return self._result(call, start, value)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def _run_awaitable(awaitable: Any, name: str) -> Any:
    if not _loop_running():
        return asyncio.run(_await(awaitable))
    if inspect.iscoroutine(awaitable):
        awaitable.close()
    raise RuntimeError(
        f"Tool '{name}' returned an awaitable while an event loop is running; use `await tool.acall(call)`."
    )


def tool(
    description: "Optional[str] | Callable[..., Any]" = None,
    prop_desc: Optional[Dict[str, str]] = None,
    *,
    name: Optional[str] = None,
    strict: bool = True,
    processor: Optional[Processor] = None,
) -> Any:
    """Decorator turning a function into a linked ``Function``; works bare (``@tool``) or with arguments."""
    localns = sys._getframe(1).f_locals  # the defining scope, for string annotations naming local classes
    if callable(description):  # bare @tool
        return Function.from_callable(
            description, name=name, prop_desc=prop_desc, strict=strict, processor=processor, localns=localns
        )

    def decorate(fn: Callable[..., Any]) -> Function:
        return Function.from_callable(
            fn,
            name=name,
            description=description,
            prop_desc=prop_desc,
            strict=strict,
            processor=processor,
            localns=localns,
        )

    return decorate


# ---------------------------------------------------------------------------------------------
# MCP
# ---------------------------------------------------------------------------------------------


class MCP:
    """A remote MCP server offered to the model (Responses API ``mcp`` tool)."""

    APPROVALS = ("never", "manual", "auto")

    def __init__(
        self,
        server_label: str,
        server_url: str,
        require_approval: str = "never",
        allowed_tools: Optional[Iterable[str]] = None,
    ):
        if require_approval not in self.APPROVALS:
            raise ValueError(
                f"MCP server '{server_label}': require_approval must be one of "
                f"{list(self.APPROVALS)}, got {require_approval!r}"
            )
        self.server_label = server_label
        self.server_url = server_url
        self.require_approval = require_approval
        self.allowed_tools = list(allowed_tools) if allowed_tools is not None else None

    def __repr__(self) -> str:
        return f"MCP(server_label={self.server_label!r}, server_url={self.server_url!r})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, MCP) and self.to_tool() == other.to_tool()

    __hash__ = None  # type: ignore[assignment]

    def to_tool(self, invoker: object = None) -> Dict[str, Any]:
        """The Responses-API MCP tool; ``invoker`` (0.1.x) is accepted and ignored."""
        out: Dict[str, Any] = {
            "type": "mcp",
            "server_label": self.server_label,
            "server_url": self.server_url,
            "require_approval": self.require_approval,
        }
        if self.allowed_tools:
            out["allowed_tools"] = list(self.allowed_tools)
        return out


__all__ = [
    "Function",
    "tool",
    "MCP",
    "default_processor",
    "strict_json_schema",
    "drop_optional_nulls",
    "validation_errors",
]
