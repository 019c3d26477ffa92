"""Prompts: the specification of one agent turn (template, renderer, parser or ``format``, tools, handlers).

Tools and parsers live in ``lllm.core.tools`` and ``lllm.core.parsers`` and are re-exported here,
their 0.1.x home."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import string
from abc import ABC, abstractmethod
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple, Type, Union, cast

from pydantic import BaseModel, ValidationError

from lllm.core import wiring
from lllm.core.parsers import BaseParser, DefaultTagParser
from lllm.core.tools import (
    MCP,
    Function,
    default_processor,
    drop_optional_nulls,
    strict_json_schema,
    tool,
    validation_errors,
)
from lllm.errors import ParseError

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.sessions import AgentCallSession

ParserLike = Union[BaseParser, Callable[..., Dict[str, Any]]]
_FORMAT_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")
_JSON_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)\n?[ \t]*```", re.DOTALL)


# ---------------------------------------------------------------------------------------------
# Renderers
# ---------------------------------------------------------------------------------------------


class BaseRenderer(ABC):
    """Turns a template and variables into text."""

    @abstractmethod
    def render(self, template: str, /, **kwargs: Any) -> str:
        """The rendered text."""

    def variables(self, template: str) -> Optional[Set[str]]:
        """The base names the template needs, or ``None`` if unknown (validation is then skipped).

        Raise ``ValueError`` for a template this renderer cannot render."""
        return None


class StringFormatterRenderer(BaseRenderer):
    """``str.format`` rendering: ``{name}`` fields, literal braces doubled (``{{ }}``)."""

    _formatter = string.Formatter()

    def render(self, template: str, /, **kwargs: Any) -> str:
        return template.format(**kwargs)

    def variables(self, template: str) -> Set[str]:
        names: Set[str] = set()
        self._collect(template, names)
        return names

    def _collect(self, template: str, names: Set[str]) -> None:
        try:
            fields = list(self._formatter.parse(template))
        except ValueError as e:  # e.g. "Single '}' encountered in format string"
            raise ValueError(f"{e}; double literal braces ({{{{ and }}}}) to write them as text") from None
        for _, field, spec, _ in fields:
            if field is None:
                continue
            base = re.split(r"[.\[]", field, maxsplit=1)[0]
            if not base.isidentifier():
                raise ValueError(
                    f"template field {{{field}}} is not a named variable; "
                    f"double literal braces ({{{{ and }}}}) to write them as text"
                )
            names.add(base)
            if spec and "{" in spec:  # nested fields, e.g. {value:{width}}
                self._collect(spec, names)


# ---------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------


class BaseHandler(ABC):
    """Chooses the prompts the agent loop sends after an invalid output, a tool call, or the last tool call."""

    @abstractmethod
    def on_exception(self, prompt: "Prompt", session: Optional["AgentCallSession"] = None) -> "Prompt":
        """The prompt rendered with ``error_message`` after invalid output."""

    @abstractmethod
    def on_interrupt(self, prompt: "Prompt", session: Optional["AgentCallSession"] = None) -> "Prompt":
        """The prompt rendered with ``call_results`` for each tool result."""

    @abstractmethod
    def on_interrupt_final(self, prompt: "Prompt", session: Optional["AgentCallSession"] = None) -> "Prompt":
        """The prompt asking for a final answer once the tool-call budget is spent (no tools)."""


class DefaultSimpleHandler(BaseHandler):
    """Fixed messages (strings or ready-made Prompts) for the three situations."""

    def __init__(
        self,
        exception_msg: "str | Prompt" = "Error: {error_message}. Please fix.",
        interrupt_msg: "str | Prompt" = "{call_results}",
        interrupt_final_msg: "str | Prompt" = "You are reaching the limit of tool calls. Provide the final response.",
    ):
        self.exception_msg = exception_msg
        self.interrupt_msg = interrupt_msg
        self.interrupt_final_msg = interrupt_final_msg

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(exception_msg={self.exception_msg!r}, interrupt_msg={self.interrupt_msg!r}, "
            f"interrupt_final_msg={self.interrupt_final_msg!r})"
        )

    def on_exception(self, prompt: "Prompt", session: Optional["AgentCallSession"] = None) -> "Prompt":
        return prompt.derive("exception", self.exception_msg)

    def on_interrupt(self, prompt: "Prompt", session: Optional["AgentCallSession"] = None) -> "Prompt":
        return prompt.derive("interrupt", self.interrupt_msg)

    def on_interrupt_final(self, prompt: "Prompt", session: Optional["AgentCallSession"] = None) -> "Prompt":
        return prompt.derive("interrupt_final", self.interrupt_final_msg, keep_tools=False)


DefaultHandler = DefaultSimpleHandler


# ---------------------------------------------------------------------------------------------
# Prompt
# ---------------------------------------------------------------------------------------------

_FIELDS = (
    "path",
    "prompt",
    "metadata",
    "parser",
    "format",
    "function_list",
    "mcp_servers_list",
    "addon_args",
    "handler",
    "renderer",
)
_DEFAULT_HANDLER = DefaultSimpleHandler()
_DEFAULT_RENDERER = StringFormatterRenderer()


class Prompt:
    """One agent turn: a template, how to read the answer (parser/format), the tools offered, and handlers.

    Treat a Prompt as immutable: ``extend`` and ``with_functions`` return modified copies."""

    qualified_key: Optional[str] = None
    """``pkg.prompts:path`` once a package registered it (recorded in dialogs, §1.5); else ``None``."""

    def __init__(
        self,
        path: str,
        prompt: str,
        metadata: Optional[Dict[str, Any]] = None,
        parser: Optional[ParserLike] = None,
        format: Union[Type[BaseModel], Dict[str, Any], None] = None,
        function_list: Iterable[Union[Function, str]] = (),
        mcp_servers_list: Iterable[MCP] = (),
        addon_args: Optional[Dict[str, Any]] = None,
        handler: Optional[BaseHandler] = None,
        renderer: Optional[BaseRenderer] = None,
        **unknown: Any,
    ):
        if unknown:  # 0.1.x (a pydantic model) ignored them silently; ignored here too, but said so
            import warnings

            warnings.warn(
                f"Prompt '{path}': unknown keyword(s) {sorted(unknown)} are ignored. Known: path, prompt, "
                f"metadata, parser, format, function_list, mcp_servers_list, addon_args, handler, renderer "
                f"(tags to parse go in parser=DefaultTagParser(xml_tags=...); tools in function_list=)",
                UserWarning,
                stacklevel=2,
            )
        if not isinstance(path, str) or not path:
            preview = prompt[:40] + ("..." if len(prompt) > 40 else "") if isinstance(prompt, str) else prompt
            raise ValueError(f"Prompt path must be a non-empty string (prompt {preview!r})")
        if ":" in path:
            raise ValueError(f"Prompt path '{path}' must not contain ':' (it separates package and key in URLs)")
        if not isinstance(prompt, str):
            raise TypeError(f"Prompt '{path}': the template must be a str, got {type(prompt).__name__}")
        if parser is not None and (isinstance(parser, type) or not (callable(parser) or hasattr(parser, "parse"))):
            raise TypeError(
                f"Prompt '{path}': parser must be a BaseParser instance or a callable "
                f"(content, **kw) -> dict, got {parser!r}"
            )
        if (
            format is not None
            and not isinstance(format, dict)
            and not (isinstance(format, type) and issubclass(format, BaseModel))
        ):
            raise TypeError(
                f"Prompt '{path}': format must be a pydantic model class or a JSON-Schema dict, got {format!r}"
            )
        self.path = path
        self.prompt = prompt
        self.metadata = dict(metadata or {})
        self.parser = parser
        self.format: Union[Type[BaseModel], Dict[str, Any], None] = format
        self.addon_args = dict(addon_args or {})
        self.handler = handler if handler is not None else _DEFAULT_HANDLER
        self.renderer = renderer if renderer is not None else _DEFAULT_RENDERER
        self._template_info: Tuple[Optional[str], Optional[frozenset[str]], str] = (None, None, "")
        self._format_cache: Dict[str, Any] = {"for": format}
        self.function_list = function_list
        self.mcp_servers_list = mcp_servers_list
        self._template()  # validate the template now

    def __repr__(self) -> str:
        return f"Prompt(path={self.path!r}, tools={list(self._functions) + self._refs})"

    # -- tools -------------------------------------------------------------------------------

    @property
    def function_list(self) -> List[Union[Function, str]]:
        """The declared tools: resolved ``Function``s, then unresolved references."""
        return [*self._functions.values(), *self._refs]

    @function_list.setter
    def function_list(self, entries: Iterable[Union[Function, str]]) -> None:
        functions: Dict[str, Function] = {}
        refs: List[str] = []
        for entry in entries:
            if isinstance(entry, Function):
                if entry.name in functions:
                    raise ValueError(f"Prompt '{self.path}' declares tool '{entry.name}' more than once")
                functions[entry.name] = entry
            elif isinstance(entry, str):
                if entry in refs:
                    raise ValueError(f"Prompt '{self.path}' declares tool '{entry}' more than once")
                refs.append(entry)
            else:
                raise TypeError(
                    f"Prompt '{self.path}': function_list entries must be Function objects (see @tool) "
                    f"or tool URLs like 'pkg.tools:name', got {type(entry).__name__}"
                )
        self._functions = functions
        self._refs = refs
        self._functions_view = MappingProxyType(functions)
        self._derived: Dict[Tuple[str, str], Prompt] = {}

    @property
    def functions(self) -> Mapping[str, Function]:
        """Resolved tools by name (read-only view)."""
        return self._functions_view

    @property
    def function_refs(self) -> List[str]:
        """Tool URLs not resolved yet (package and tactic tools, §2.6/§2.7)."""
        return list(self._refs)

    @property
    def mcp_servers_list(self) -> List[MCP]:
        return list(self._mcp_servers.values())

    @mcp_servers_list.setter
    def mcp_servers_list(self, servers: Iterable[MCP]) -> None:
        by_label: Dict[str, MCP] = {}
        for server in servers:
            if not isinstance(server, MCP):
                raise TypeError(
                    f"Prompt '{self.path}': mcp_servers_list entries must be MCP objects, got {type(server).__name__}"
                )
            if server.server_label in by_label:
                raise ValueError(f"Prompt '{self.path}' declares MCP server '{server.server_label}' more than once")
            by_label[server.server_label] = server
        self._mcp_servers = by_label
        self._derived = {}

    @property
    def mcp_servers(self) -> Mapping[str, MCP]:
        return MappingProxyType(self._mcp_servers)

    def register_mcp_server(self, server: MCP) -> None:
        """Add (or replace, by ``server_label``) an MCP server on this prompt (0.1.x API)."""
        if not isinstance(server, MCP):
            raise TypeError(
                f"Prompt '{self.path}': register_mcp_server takes an MCP object, got {type(server).__name__}"
            )
        self._mcp_servers = {**self._mcp_servers, server.server_label: server}
        self._derived = {}

    def get_function(self, name: str) -> Function:
        try:
            return self._functions[name]
        except KeyError:
            raise KeyError(
                f"Prompt '{self.path}' has no tool '{name}'. Declared tools: {list(self._functions)}"
            ) from None

    def link_function(self, name: str, fn: Callable[..., Any]) -> None:
        """Implement tool ``name`` with ``fn`` on this prompt (the Function object itself is not mutated)."""
        bound = self.get_function(name).bind(fn)
        self._functions[name] = bound
        self._derived = {}

    def with_functions(self, **impls: Callable[..., Any]) -> "Prompt":
        """A copy whose tools ``name=callable`` are implemented; this prompt is left untouched."""
        unknown = [n for n in impls if n not in self._functions]
        if unknown:
            raise KeyError(f"Prompt '{self.path}' has no tool(s) {unknown}. Declared tools: {list(self._functions)}")
        return self._with_function_map({**self._functions, **{n: self._functions[n].bind(f) for n, f in impls.items()}})

    def _with_function_map(self, functions: Dict[str, Function], refs: Optional[List[str]] = None) -> "Prompt":
        clone = copy.copy(self)
        clone._functions = functions
        clone._functions_view = MappingProxyType(functions)
        clone._refs = list(self._refs if refs is None else refs)
        clone._derived = {}
        clone.metadata = dict(self.metadata)
        clone.addon_args = dict(self.addon_args)
        return clone

    def resolve_functions(self, runtime: Any = None) -> Dict[str, Function]:
        """Every tool as an implemented ``Function`` by name: references and implementation-less
        declarations are resolved in ``runtime`` (default: the default runtime) as §2.6 describes."""
        if not self._refs and all(f.function is not None for f in self._functions.values()):
            return dict(self._functions)
        return wiring.services.prompt_functions(self, runtime)

    # -- rendering ---------------------------------------------------------------------------

    def _template(self) -> Tuple[Optional[frozenset[str]], str]:
        """(variables or None, hash) of the current template, recomputed only when it changes."""
        source, names, digest = self._template_info
        if source is not self.prompt:
            try:
                found = self.renderer.variables(self.prompt)
            except ValueError as e:
                raise ValueError(f"Prompt '{self.path}': {e}") from None
            names = frozenset(found) if found is not None else None
            digest = hashlib.sha256(self.prompt.encode("utf-8")).hexdigest()[:12]
            self._template_info = (self.prompt, names, digest)
        return names, digest

    @property
    def template_vars(self) -> Set[str]:
        """Base names of the template's variables (``{a.b}`` → ``a``); empty if the renderer cannot tell."""
        return set(self._template()[0] or ())

    @property
    def prompt_hash(self) -> str:
        """The first 12 hex characters of the template's SHA-256."""
        return self._template()[1]

    def validate_args(self, args: Optional[Mapping[str, Any]]) -> List[str]:
        """The template variables missing from ``args`` (sorted)."""
        names = self._template()[0]
        if not names:
            return []
        args = args or {}
        return sorted(n for n in names if n not in args)

    def __call__(self, /, **kwargs: Any) -> str:
        """Render the template; extra arguments are ignored, ``{{ }}`` always becomes ``{ }``."""
        missing = self.validate_args(kwargs)
        if missing:
            raise ValueError(f"Missing required template variables: {missing} for prompt {self.path}")
        try:
            return self.renderer.render(self.prompt, **kwargs)
        except (KeyError, AttributeError, IndexError, ValueError, TypeError) as e:
            raise ValueError(f"Failed to render prompt {self.path}: {type(e).__name__}: {e}") from e

    # -- output ------------------------------------------------------------------------------

    def parse(self, content: str, **runtime_args: Any) -> Dict[str, Any]:
        """The parser's dict (``raw`` ensured), or ``{"raw": content}`` without a parser."""
        parser = self.parser
        if parser is None:
            return {"raw": content}
        out = (parser.parse if hasattr(parser, "parse") else parser)(content, **runtime_args)
        if not isinstance(out, dict):
            raise TypeError(f"Parser of prompt '{self.path}' returned {type(out).__name__}, expected a dict")
        out.setdefault("raw", content)
        return out

    def parse_output(self, content: str, **parser_args: Any) -> Dict[str, Any]:
        """What invokers call: validate ``format`` (if set), then run the parser (if set). Raises ``ParseError``."""
        if self.format is None:
            return self.parse(content, **parser_args)
        parsed = self.validate_format(content)
        if self.parser is not None:
            return self.parse(content, **parser_args)
        return parsed

    def validate_format(self, content: str) -> Dict[str, Any]:
        """``content`` validated against ``format``: the JSON data (``model_dump(mode="json")``, or
        ``{"value": ...}`` for a non-object schema); raises ``ParseError``."""
        text = _json_text(content)
        fmt = self.format
        if isinstance(fmt, dict):
            data, errors = self._validate_schema(text, fmt)
        elif fmt is None:
            raise ValueError(f"Prompt '{self.path}' has no format to validate against")
        else:
            try:
                data, errors = fmt.model_validate_json(text).model_dump(mode="json"), []
            except ValidationError as e:  # a strict-mode answer may send null for optional fields
                data, errors = None, validation_errors(e)
                loaded = _loads(text)
                if isinstance(loaded, dict):
                    try:
                        schema = self.format_schema()[1]  # type: ignore[index]
                        relaxed = drop_optional_nulls(loaded, schema, schema.get("$defs", {}))
                        data, errors = fmt.model_validate(relaxed).model_dump(mode="json"), []
                    except ValidationError:
                        pass
        if errors:
            name = self.format_schema()[0]  # type: ignore[index]
            listing = "\n".join(f"- {e}" for e in errors)
            raise ParseError(
                f"The output does not match the required format '{name}':\n{listing}\n"
                f"Answer with only a JSON value that matches the '{name}' schema.",
                detail=content,
            )
        return dict(data) if isinstance(data, dict) else {"value": data}  # exactly model_dump (SPEC §2.4)

    def _validate_schema(self, text: str, schema: Dict[str, Any]) -> Tuple[Any, List[str]]:
        try:
            data = json.loads(text)
        except ValueError as e:
            return None, [f"invalid JSON: {e}"]
        cache = self._format_state()
        validator = cache.get("validator", False)
        if validator is False:
            try:
                import jsonschema  # lazy and optional: without it the JSON is only parsed
            except ImportError:
                validator = None
            else:
                cls = jsonschema.validators.validator_for(schema)
                validator = cls(schema)
            cache["validator"] = validator
        if validator is None:
            return data, []

        def errors_of(value: Any) -> List[str]:
            found = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
            return [f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in found]

        errors = errors_of(data)
        if errors and isinstance(data, dict):  # a strict-mode answer may send null for optional fields
            relaxed = drop_optional_nulls(data, schema, schema.get("$defs", {}))
            if relaxed != data and not errors_of(relaxed):
                return relaxed, []
        return data, errors

    def format_schema(self, strict: bool = False) -> Optional[Tuple[str, Dict[str, Any]]]:
        """``(name, JSON Schema)`` of ``format`` for structured-output requests, or ``None`` without one.

        ``strict=True`` gives OpenAI's strict form, or ``None`` if the schema cannot be strict. Cached: do not mutate."""
        if self.format is None:
            return None
        cache = self._format_state()
        key = "strict" if strict else "schema"
        if key not in cache:
            fmt = self.format
            if isinstance(fmt, dict):
                name, schema = str(fmt.get("title") or "output"), fmt
            else:
                name, schema = fmt.__name__, fmt.model_json_schema()
            name = _FORMAT_NAME_BAD.sub("_", name)[:64]
            sent = strict_json_schema(schema) if strict else schema
            cache[key] = (name, sent) if sent is not None else None
        return cast(Optional[Tuple[str, Dict[str, Any]]], cache[key])

    def _format_state(self) -> Dict[str, Any]:
        """Schemas and validators derived from ``format``, dropped when ``format`` is reassigned."""
        if self._format_cache.get("for") is not self.format:
            self._format_cache = {"for": self.format}
        return self._format_cache

    # -- addons ------------------------------------------------------------------------------

    @property
    def allow_web_search(self) -> bool:
        args = self.addon_args
        return bool(args.get("web_search", args.get("allow_web_search", False)))

    @property
    def computer_use_config(self) -> Dict[str, Any]:
        args = self.addon_args
        return args.get("computer_use", args.get("computer_use_config")) or {}

    # -- handlers ----------------------------------------------------------------------------

    def on_exception(self, session: Optional["AgentCallSession"] = None) -> "Prompt":
        return self.handler.on_exception(self, session)

    def on_interrupt(self, session: Optional["AgentCallSession"] = None) -> "Prompt":
        return self.handler.on_interrupt(self, session)

    def on_interrupt_final(self, session: Optional["AgentCallSession"] = None) -> "Prompt":
        return self.handler.on_interrupt_final(self, session)

    def derive(self, kind: str, message: "str | Prompt", *, keep_tools: bool = True) -> "Prompt":
        """The handler prompt ``__<path>_<kind>`` for ``message`` (a Prompt is returned as is), cached.

        It inherits everything from this prompt; without ``keep_tools`` it has no tools, MCP servers or addons."""
        if isinstance(message, Prompt):
            return message
        key = (kind, message)
        derived = self._derived.get(key)
        if derived is None:
            overrides: Dict[str, Any] = (
                {} if keep_tools else {"function_list": [], "mcp_servers_list": [], "addon_args": {}}
            )
            derived = self._derived[key] = self.extend(path=f"__{self.path}_{kind}", prompt=message, **overrides)
        return derived

    # -- composition -------------------------------------------------------------------------

    def extend(self, **overrides: Any) -> "Prompt":
        """A new prompt with this one's field values and ``overrides`` (which must include a new ``path``)."""
        if "path" not in overrides:
            raise ValueError("extend() requires a new 'path'")
        unknown = sorted(set(overrides) - set(_FIELDS))
        if unknown:
            raise TypeError(
                f"extend() got unknown field(s) {unknown} for prompt '{self.path}'; valid fields: {list(_FIELDS)}"
            )
        fields = {name: getattr(self, name) for name in _FIELDS if name not in overrides}
        fields.update(overrides)
        return type(self)(**fields)

    def info_dict(self) -> Dict[str, Any]:
        """A JSON-friendly summary for logs and experiment tracking."""
        return {
            "path": self.path,
            "prompt_hash": self.prompt_hash,
            "metadata": self.metadata,
            "functions": [*self._functions, *self._refs],
            "mcp_servers": list(self._mcp_servers),
            "addon_args": self.addon_args,
            "has_parser": self.parser is not None,
            "has_format": self.format is not None,
        }


def _json_text(content: str) -> str:
    """The JSON inside ``content``: the whole text, or the first ```json fence when the text is not bare JSON."""
    text = content.strip()
    if text[:1] in ("{", "["):
        return text
    m = _JSON_FENCE.search(text)
    return m.group(1).strip() if m else text


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


__all__ = [
    "Prompt",
    "BaseRenderer",
    "StringFormatterRenderer",
    "BaseHandler",
    "DefaultSimpleHandler",
    "DefaultHandler",
    "BaseParser",
    "DefaultTagParser",
    "Function",
    "tool",
    "MCP",
    "default_processor",
    "ParserLike",
]

from lllm.lazy import lazy_exports as _lazy_exports  # noqa: E402 - 0.1.x names kept here

__getattr__ = _lazy_exports(
    __name__,
    {
        "AgentCallSession": "lllm.core.sessions",
        "AgentException": "lllm.errors",
        "FunctionCall": "lllm.core.message",
        "register_prompt": "lllm.compat",
    },
)
