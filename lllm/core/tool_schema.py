"""JSON Schema for tools: OpenAI strict-mode conversion, null-dropping and validation messages, and the
per-callable argument model (pydantic) that both describes and validates a tool's parameters."""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import warnings
import weakref
from typing import Annotated, Any, Callable, Dict, List, Optional, Tuple

from pydantic import ConfigDict, Field, ValidationError, WithJsonSchema, create_model

logger = logging.getLogger("lllm.agent")

_SKIPPED_PARAMS = ("self", "cls")
_EMPTY = inspect.Parameter.empty
# What a parameter whose type pydantic cannot describe (or an untyped/``Any`` one) becomes: any value
# is accepted and the model is told to send a string.
_STRINGISH = Annotated[Any, WithJsonSchema({"type": "string"})]


# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null" and len(schema) == 1


def _nullable(schema: Dict[str, Any]) -> Dict[str, Any]:
    """``schema`` that also admits ``null`` (unchanged if it already does)."""
    t = schema.get("type")
    if t == "null" or (isinstance(t, list) and "null" in t) or any(_is_null(s) for s in schema.get("anyOf", ())):
        return schema
    if "enum" in schema and None in schema["enum"]:
        return schema
    if isinstance(t, str) and "enum" not in schema and "const" not in schema:
        return {**schema, "type": [t, "null"]}
    if "anyOf" in schema:
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}
    outer = {k: schema[k] for k in ("description",) if k in schema}
    inner = {k: v for k, v in schema.items() if k != "description"}
    return {"anyOf": [inner, {"type": "null"}], **outer}


class _NotStrict(Exception):
    """A schema construct that OpenAI strict mode cannot express."""


_STRICT_UNSUPPORTED = (
    "not",
    "if",
    "then",
    "else",
    "patternProperties",
    "prefixItems",
    "dependentRequired",
    "dependentSchemas",
    "unevaluatedProperties",
    "propertyNames",
)


def _strict_node(schema: Any, defs: Dict[str, Any]) -> Dict[str, Any]:
    if not isinstance(schema, dict):
        raise _NotStrict(f"schema node {schema!r} is not an object")
    node: Dict[str, Any] = {k: v for k, v in schema.items() if k not in ("default", "title", "discriminator")}
    for key in _STRICT_UNSUPPORTED:
        if key in node:
            raise _NotStrict(f"'{key}' is not supported")
    if "$ref" in node and len(node) > 1:  # strict mode wants a bare $ref: inline the definition
        target = defs.get(node["$ref"].rsplit("/", 1)[-1])
        if target is None:
            raise _NotStrict(f"unresolvable $ref {node['$ref']}")
        rest = {k: v for k, v in node.items() if k != "$ref"}
        node = {**_strict_node(target, defs), **rest}
    if "allOf" in node:
        if len(node["allOf"]) != 1:
            raise _NotStrict("'allOf' with several schemas is not supported")
        rest = {k: v for k, v in node.items() if k != "allOf"}
        return _strict_node({**node["allOf"][0], **rest}, defs)
    if "oneOf" in node:  # a discriminated union; anyOf accepts the same values here
        node["anyOf"] = node.pop("oneOf")
    if "anyOf" in node:
        node["anyOf"] = [_strict_node(s, defs) for s in node["anyOf"]]
    elif not any(k in node for k in ("type", "$ref", "enum", "const")):
        raise _NotStrict("a schema without a type (e.g. Any) is not supported")
    t = node.get("type")
    if t == "object" or (isinstance(t, list) and "object" in t) or "properties" in node:
        if "properties" not in node or node.get("additionalProperties", False) is not False:
            raise _NotStrict("free-form objects (dict) are not supported")
        required = set(node.get("required", ()))
        props = {}
        for name, sub in node["properties"].items():
            sub = _strict_node(sub, defs)
            props[name] = sub if name in required else _nullable(sub)
        node.update(properties=props, required=list(props), additionalProperties=False)
    if "items" in node:
        node["items"] = _strict_node(node["items"], defs)
    return node


def strict_json_schema(schema: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The OpenAI strict-mode form of an object ``schema``, or ``None`` if it cannot be expressed.

    Every property becomes required (optional ones nullable: ``null`` means "use the default"),
    every object gets ``additionalProperties: false``, ``$defs`` stay at the top level."""
    defs = schema.get("$defs", {})
    try:
        if schema.get("type") != "object":
            raise _NotStrict("the root must be an object")
        out = _strict_node({k: v for k, v in schema.items() if k != "$defs"}, defs)
        if defs:
            out["$defs"] = {name: _strict_node(d, defs) for name, d in defs.items()}
        return out
    except _NotStrict as e:
        logger.debug("schema is not strict-compatible: %s", e)
        return None


def drop_optional_nulls(value: Any, schema: Dict[str, Any], defs: Dict[str, Any]) -> Any:
    """``value`` without the ``null``s given for optional properties (so their defaults apply), at any depth."""
    ref = schema.get("$ref")
    if ref is not None:
        schema = defs.get(ref.rsplit("/", 1)[-1], {})
    if isinstance(value, dict):
        props = schema.get("properties")
        if props is not None:
            required = schema.get("required", ())
            out = {}
            for k, v in value.items():
                sub = props.get(k)
                if v is None and sub is not None and k not in required:
                    continue
                out[k] = drop_optional_nulls(v, sub, defs) if sub and isinstance(v, (dict, list)) else v
            return out
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            return [drop_optional_nulls(v, items, defs) if isinstance(v, (dict, list)) else v for v in value]
    for branch in schema.get("anyOf", ()):
        if not _is_null(branch):
            return drop_optional_nulls(value, branch, defs)
    return value


def validation_errors(e: ValidationError) -> List[str]:
    """One ``location: message`` line per pydantic error, for messages the model reads."""
    return [f"{'.'.join(str(x) for x in err['loc']) or '(root)'}: {err['msg']}" for err in e.errors()]


# ---------------------------------------------------------------------------------------------
# Signatures: one pydantic model per callable serves as both the schema source and the validator
# ---------------------------------------------------------------------------------------------


def _signature(fn: Callable[..., Any], localns: Optional[Dict[str, Any]] = None) -> inspect.Signature:
    """``fn``'s signature with string annotations resolved in its module, else also in ``localns`` (the
    defining scope); annotations that still do not resolve count as untyped."""
    for ns in (None, localns) if localns else (None,):
        try:
            return inspect.signature(fn, eval_str=True, locals=ns)
        except (NameError, TypeError, SyntaxError, AttributeError):
            continue
    sig = inspect.signature(fn)
    globs = getattr(inspect.unwrap(fn.func if isinstance(fn, functools.partial) else fn), "__globals__", {})
    params = []
    for p in sig.parameters.values():
        ann = p.annotation
        if isinstance(ann, str):
            try:
                ann = eval(ann, globs, localns)  # noqa: S307 - the annotation text of the user's own function
            except Exception:
                ann = _EMPTY
        params.append(p.replace(annotation=ann))
    return sig.replace(parameters=params)


Site = Tuple[str, int, str]  # a def's (file, line, module name)


def def_site(fn: Callable[..., Any]) -> Optional[Site]:
    """Where ``fn``'s ``def`` is; ``None`` for a callable without one (a builtin, a ``partial``, an object)."""
    inner = inspect.unwrap(fn)
    code = getattr(inner, "__code__", None)
    if code is None:
        return None
    return code.co_filename, code.co_firstlineno, str(getattr(inner, "__module__", None) or "<unknown>")


def warn_at(site: Optional[Site], message: str, stacklevel: int) -> None:
    """A ``UserWarning`` at ``site`` (a tool's ``def`` line: what to fix), else ``stacklevel`` frames up from
    the caller, as ``warnings.warn`` counts them. Shown once per site, as ``warnings.warn`` would."""
    if site is None:
        warnings.warn(message, UserWarning, stacklevel=stacklevel + 1)
        return
    filename, lineno, module = site
    mod = sys.modules.get(module)
    module_globals = vars(mod) if mod is not None else None
    registry = module_globals.setdefault("__warningregistry__", {}) if module_globals is not None else None
    warnings.warn_explicit(
        message, UserWarning, filename, lineno, module=module, registry=registry, module_globals=module_globals
    )


class _ArgSpec:
    """How to validate arguments for, and call, one implementation. Built once per callable (and cached
    weakly per callable, so re-binding the same implementation costs nothing); holds no reference to it."""

    __slots__ = (
        "_model",
        "_schema",
        "_params",
        "_fn_name",
        "site",
        "names",
        "posonly",
        "extra_ok",
        "is_async",
        "accepts",
    )

    def __init__(self, fn: Callable[..., Any], sig: Optional[inspect.Signature] = None):
        self.is_async = inspect.iscoroutinefunction(fn)
        self._model: Any = None
        self._schema: Optional[Dict[str, Any]] = {}
        self._params: List[inspect.Parameter] = []
        self._fn_name = _callable_name(fn)
        self.site = def_site(fn)  # where a parameter that becomes a string is warned about
        self.names: List[Tuple[str, str]] = []  # (field name in the model, parameter name)
        self.posonly: List[str] = []
        self.extra_ok = True
        self.accepts: Optional[frozenset[str]] = None  # parameter names, None = anything (**kwargs / unknown)
        if sig is None:
            try:
                sig = _signature(fn)
            except (TypeError, ValueError):  # builtins without a signature: pass arguments through
                return
        params = self._params = _tool_params(sig)
        self.extra_ok = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        self.accepts = None if self.extra_ok else frozenset(p.name for p in params)
        self.names = [(f"p{i}", p.name) for i, p in enumerate(params)]
        self.posonly = [p.name for p in params if p.kind is p.POSITIONAL_ONLY]
        self._schema = None  # the pydantic model is built on first use: importing 200 tools stays cheap

    def _build(self) -> Dict[str, Any]:
        if self._schema is None:
            self._model, self._schema = _args_model(self._fn_name, self._params, self.extra_ok, self.site)
        return self._schema

    @property
    def model(self) -> Any:
        self._build()
        return self._model

    @property
    def schema(self) -> Dict[str, Any]:
        return self._build()

    def validate(self, args: Dict[str, Any]) -> Dict[str, Any]:
        """The keyword arguments to call with; raises ``ValidationError``."""
        if self.model is None:
            return args
        m = self.model.model_validate(args)
        given = m.model_fields_set
        kwargs = {name: getattr(m, field) for field, name in self.names if field in given}
        if m.model_extra:
            kwargs.update(m.model_extra)
        return kwargs

    def invoke(self, fn: Callable[..., Any], kwargs: Dict[str, Any]) -> Any:
        if self.posonly:
            args = [kwargs.pop(n) for n in self.posonly if n in kwargs]
            return fn(*args, **kwargs)
        return fn(**kwargs)


_SPECS: "weakref.WeakKeyDictionary[Any, _ArgSpec]" = weakref.WeakKeyDictionary()


def _spec_for(fn: Callable[..., Any], sig: Optional[inspect.Signature] = None) -> _ArgSpec:
    try:
        spec = _SPECS.get(fn)
    except TypeError:  # not weak-referenceable or unhashable: no caching
        return _ArgSpec(fn, sig)
    if spec is None:
        spec = _SPECS[fn] = _ArgSpec(fn, sig)
    return spec


def _tool_params(sig: inspect.Signature) -> List[inspect.Parameter]:
    """The parameters a model fills in; a default of ``...`` counts as none (pydantic's convention)."""
    return [
        p.replace(default=_EMPTY) if p.default is Ellipsis else p
        for p in sig.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in _SKIPPED_PARAMS
    ]


def _schemable(annotation: Any) -> bool:
    try:
        create_model(
            "_Probe", x=(annotation, ...), __config__=ConfigDict(arbitrary_types_allowed=True)
        ).model_json_schema()
        return True
    except Exception:
        return False


def _args_model(
    fn_name: str, params: List[inspect.Parameter], extra_ok: bool, site: Optional[Site]
) -> Tuple[Any, Dict[str, Any]]:
    """A pydantic model whose fields are the parameters (aliased, so any parameter name works), and its schema."""
    config = ConfigDict(arbitrary_types_allowed=True, extra="allow" if extra_ok else "forbid")

    def build(annotations: List[Any]) -> Any:
        fields: Dict[str, Any] = {}
        for i, (p, ann) in enumerate(zip(params, annotations)):
            default = ... if p.default is _EMPTY else p.default
            fields[f"p{i}"] = (ann, Field(default, alias=p.name))
        return create_model(f"{fn_name}_args", __config__=config, **fields)

    def with_schema(model: Any) -> Tuple[Any, Dict[str, Any]]:
        with warnings.catch_warnings():  # e.g. a default that is not JSON-serialisable
            warnings.simplefilter("ignore")
            return model, model.model_json_schema(by_alias=True)

    annotations = [_STRINGISH if p.annotation in (_EMPTY, Any) else p.annotation for p in params]
    try:
        return with_schema(build(annotations))
    except Exception:  # some parameter's type cannot be described: those become strings, said out loud
        fallback = [a if a is _STRINGISH or _schemable(a) else _STRINGISH for a in annotations]
        for p, before, after in zip(params, annotations, fallback):
            if after is _STRINGISH and before is not _STRINGISH:
                warn_at(
                    site,
                    f"Tool '{fn_name}': parameter '{p.name}' has type {_type_name(before)}, which pydantic "
                    f"cannot describe in JSON Schema, so the model is asked for a string and the function "
                    f"receives it unchecked. Annotate '{p.name}' with a type pydantic can describe (str, a "
                    f"BaseModel, a dataclass, a TypedDict...).",
                    2,
                )
        return with_schema(build(fallback))


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__qualname__", None) or repr(annotation)


def _doc_text(fn: Callable[..., Any]) -> Tuple[str, Dict[str, str]]:
    """(description, {param: description}) from the docstring (Google, numpy or reST)."""
    target = fn.func if isinstance(fn, functools.partial) else fn
    if inspect.isroutine(target) or inspect.isclass(target):
        doc = target.__doc__
    else:  # a callable instance
        doc = type(target).__call__.__doc__ or type(target).__doc__
    doc = inspect.cleandoc(doc) if doc else ""
    if not doc:
        return "", {}
    import docstring_parser  # lazy: only tools with docstrings pay for it

    try:
        parsed = docstring_parser.parse(doc)
    except Exception:
        return doc, {}
    text = "\n\n".join(t for t in (parsed.short_description, parsed.long_description) if t)
    return text, {p.arg_name: p.description for p in parsed.params if p.description}


def _callable_name(fn: Callable[..., Any]) -> str:
    target = fn.func if isinstance(fn, functools.partial) else fn
    return getattr(target, "__name__", None) or type(target).__name__


__all__ = ["strict_json_schema", "drop_optional_nulls", "validation_errors"]
