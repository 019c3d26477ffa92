"""The offline invokers: scripted (``MockInvoker``) and schema-driven (``TestInvoker``, ``model="test"``).

Users reach them through ``lllm.testing``; the router uses ``TestInvoker`` for the offline default.

- ``MockInvoker(script)``: replays scripted answers in order and records every request.
- ``TestInvoker``: a deterministic, schema-driven offline model (``model="test"``): on a turn with
  tools it first calls each offered tool once with arguments generated from its JSON Schema, then
  answers with text that satisfies the active parser or JSON valid against the active ``format``.
  With proxy tools it reads a real proxy's docs, then runs code calling one of its endpoints.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from lllm.core.const import APITypes, Modalities, Roles
from lllm.core.message import Message
from lllm.core.stream import emit_chunk, emit_done
from lllm.core.tokens import estimate_messages_tokens, estimate_tokens
from lllm.errors import LLLMError
from lllm.invokers.base import BaseInvoker, InvokeResult, ModelOutput, ToolCallOut, effective_functions, finish_output

ScriptItem = Union[str, Message, ModelOutput, InvokeResult, BaseException, Callable[[Any], Any]]


def tool_calls(
    *calls: Union[Tuple[str, Dict[str, Any]], Tuple[str, Dict[str, Any], str]], content: str = ""
) -> ModelOutput:
    """A scripted model turn that calls tools: ``tool_calls(("get_weather", {"city": "Paris"}))``."""
    out = []
    for i, c in enumerate(calls):
        name, args = c[0], c[1]
        call_id = c[2] if len(c) > 2 else f"call_{i}_{name}"
        out.append(ToolCallOut(id=call_id, name=name, arguments=args if isinstance(args, str) else json.dumps(args)))
    return ModelOutput(content=content, tool_calls=out)


@dataclass
class MockRequest:
    """What the agent loop sent to the invoker on one call."""

    messages: List[Message]
    model: str
    model_args: Dict[str, Any]
    tools: List[str]
    api_type: APITypes
    top_prompt: Any
    metadata: Dict[str, Any] = field(default_factory=dict)


def _message_output(m: Message) -> ModelOutput:
    return ModelOutput(
        content=m.text,
        model=m.model,
        usage=dict(m.usage),
        tool_calls=[ToolCallOut(c.id, c.name, json.dumps(c.arguments)) for c in m.function_calls],
    )


class MockInvoker(BaseInvoker):
    """Replays ``str | Message | ModelOutput | Exception | callable(dialog)`` items in order.

    Strings and messages go through the same output parsing as a real provider's answer, so parse
    failures, format validation and tool calls exercise the real call loop. Exceptions are raised
    (use ``ProviderError(kind="rate_limit")`` etc. to drive the retry budgets)."""

    name = "mock"

    def __init__(self, script: Sequence[ScriptItem] = (), config: Optional[Dict[str, Any]] = None):
        super().__init__(config)
        self.script: List[ScriptItem] = list(script)
        self.requests: List[MockRequest] = []
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        return len(self.script) - len(self.requests)

    def call(
        self,
        dialog: Any,
        model: str,
        model_args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        responder: str = "assistant",
        metadata: Optional[Dict[str, Any]] = None,
        api_type: APITypes = APITypes.COMPLETION,
        stream_handler: Any = None,
        *,
        functions: Optional[List[Any]] = None,
    ) -> InvokeResult:
        fns = effective_functions(dialog, functions)
        started = time.time()
        with self._lock:
            n = len(self.requests)
            self.requests.append(
                MockRequest(
                    list(dialog.messages),
                    model,
                    dict(model_args or {}),
                    [f.name for f in fns],
                    APITypes(api_type),
                    dialog.top_prompt,
                    dict(metadata or {}),
                )
            )
            if n >= len(self.script):
                raise LLLMError(
                    f"MockInvoker script exhausted: call {n + 1} but the script has {len(self.script)} "
                    f"item(s); add more answers to the script."
                )
            item = self.script[n]
        if callable(item) and not isinstance(item, (Message, BaseException, ModelOutput, InvokeResult)):
            item = item(dialog)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, InvokeResult):
            return item
        if isinstance(item, Message):
            out = _message_output(item)
        elif isinstance(item, ModelOutput):
            out = item
        elif isinstance(item, str):
            out = ModelOutput(content=item)
        else:
            raise LLLMError(
                f"MockInvoker: unsupported script item {type(item).__name__}; use str, Message, "
                f"ModelOutput (see lllm.testing.tool_calls), an exception or a callable(dialog)."
            )
        out.model = out.model or model
        _stream(stream_handler, out.content)
        msg, errors = finish_output(
            out,
            dialog.top_prompt,
            responder=responder,
            parser_args=parser_args,
            metadata=metadata,
            api_type=APITypes(api_type),
        )
        return InvokeResult(
            message=msg,
            raw_response=item if isinstance(item, str) else None,
            model_args=dict(model_args or {}),
            execution_errors=errors,
            request={"provider": "mock", "model": model, "tools": [f.name for f in fns]},
            started_at=started,
            latency_s=time.time() - started,
        )

    async def acall(self, *args: Any, **kw: Any) -> InvokeResult:
        return self.call(*args, **kw)


# ---------------------------------------------------------------------------------------------
# TestInvoker: deterministic offline model
# ---------------------------------------------------------------------------------------------


def sample_json(
    schema: Dict[str, Any],
    defs: Optional[Dict[str, Any]] = None,
    name: str = "value",
    hints: Optional[Dict[str, Any]] = None,
) -> Any:
    """A deterministic value valid against a (pydantic-style) JSON Schema.

    ``hints`` maps property names to preferred values (the TestInvoker passes the prompt arguments
    of the dialog, so a tool's ``city`` argument gets the city the user asked about)."""
    defs = defs if defs is not None else schema.get("$defs", schema.get("definitions", {}))
    hints = hints or {}
    if "$ref" in schema:
        ref = schema["$ref"].split("/")[-1]
        return sample_json(defs.get(ref, {}), defs, name, hints)
    if "const" in schema:
        return schema["const"]
    hint = hints.get(name)
    if schema.get("enum"):
        return hint if hint in schema["enum"] else schema["enum"][0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    if schema.get("examples"):
        return schema["examples"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return sample_json(options[0], defs, name, hints)
    if "allOf" in schema:
        merged: Dict[str, Any] = {}
        for s in schema["allOf"]:
            merged.update(s)
        return sample_json(merged, defs, name, hints)
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "null")
    if typ == "object" or (typ is None and "properties" in schema):
        props = schema.get("properties", {})
        return {k: sample_json(v, defs, k, hints) for k, v in props.items()}
    if typ == "array":
        n = max(1, int(schema.get("minItems", 1)))
        return [sample_json(schema.get("items", {}), defs, name, hints) for _ in range(n)]
    if typ in ("integer", "number"):
        return _sample_number(schema, typ == "integer")
    if typ == "boolean":
        return True
    if typ == "null":
        return None
    if isinstance(hint, str) and typ in (None, "string"):
        return hint
    fmt: str = schema.get("format") or ""
    text = {
        "date": "2026-01-01",
        "date-time": "2026-01-01T00:00:00Z",
        "email": "test@example.com",
        "uri": "https://example.com",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }.get(fmt, f"test {name}")
    if "minLength" in schema and len(text) < schema["minLength"]:
        text = text.ljust(int(schema["minLength"]), "x")
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text


def _sample_number(schema: Dict[str, Any], integer: bool) -> Union[int, float]:
    """A number inside the schema's bounds (exclusive ones too): its lower bound, else 1, lowered under an
    upper bound when needed (an integer's ``minimum: 0`` gives 1 when allowed)."""
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if integer:  # the bounds as inclusive integers
        lows = ([math.ceil(lo)] if lo is not None else []) + ([math.floor(xlo) + 1] if xlo is not None else [])
        highs = ([math.floor(hi)] if hi is not None else []) + ([math.ceil(xhi) - 1] if xhi is not None else [])
        low, high = max(lows, default=None), min(highs, default=None)
        value = low if low else 1
        if high is not None and value > high:
            value = max(high, low) if low is not None else high
        return int(value)
    number = float(lo) if lo is not None else 1.0
    if xlo is not None and number <= xlo:
        number = xlo + 1.0
    if hi is not None and number > hi:
        number = float(hi)
    if xhi is not None and number >= xhi:
        floor = max((b for b in (lo, xlo) if b is not None), default=None)
        number = (floor + xhi) / 2 if floor is not None else xhi - 1.0
    return number


def _stream(handler: Any, content: str) -> None:
    """Stream ``content`` word by word (the pieces join to the content), then end the stream even when there was
    no text (a tool-call turn), as a provider would."""
    if handler is not None:
        for piece in re.findall(r"\S+\s*|\s+", content or ""):
            emit_chunk(handler, piece, None)
        emit_done(handler)


class TestInvoker(BaseInvoker):
    """The offline model behind ``model="test"``: deterministic, schema-driven, cost 0."""

    __test__ = False  # not a pytest test class
    name = "test"

    def call(
        self,
        dialog: Any,
        model: str,
        model_args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        responder: str = "assistant",
        metadata: Optional[Dict[str, Any]] = None,
        api_type: APITypes = APITypes.COMPLETION,
        stream_handler: Any = None,
        *,
        functions: Optional[List[Any]] = None,
    ) -> InvokeResult:
        started = time.time()
        messages = list(dialog.messages)
        fns = effective_functions(dialog, functions)
        prompt = dialog.top_prompt
        turn = _current_turn(messages)
        hints: Dict[str, Any] = {}
        for m in messages:
            args = m.metadata.get("prompt_args")
            if isinstance(args, dict):
                hints.update({k: v for k, v in args.items() if isinstance(v, (str, int, float, bool))})
        digest = hashlib.sha1(f"{len(messages)}:{responder}".encode()).hexdigest()[:8]
        proxy_calls = _proxy_calls(fns, messages, turn)
        if proxy_calls is not None:
            out = ModelOutput(
                tool_calls=[
                    ToolCallOut(id=f"call_{digest}_{i}", name=name, arguments=json.dumps(args))
                    for i, (name, args) in enumerate(proxy_calls)
                ]
            )
        elif fns and not any(m.role == Roles.TOOL_CALL for m in turn):
            out = ModelOutput(
                tool_calls=[
                    ToolCallOut(
                        id=f"call_{digest}_{i}",
                        name=f.name,
                        arguments=json.dumps(sample_json(f.parameters, name=f.name, hints=hints)),
                    )
                    for i, f in enumerate(fns)
                ]
            )
        else:
            out = ModelOutput(content=_answer(prompt, messages, turn, hints))
        prompt_tokens = estimate_messages_tokens(messages)
        completion_tokens = max(1, estimate_tokens(out.content + "".join(t.arguments for t in out.tool_calls)))
        out.usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "cost": 0.0}
        out.model = model
        out.finish_reason = "tool_calls" if out.tool_calls else "stop"
        _stream(stream_handler, out.content)
        msg, errors = finish_output(
            out, prompt, responder=responder, parser_args=parser_args, metadata=metadata, api_type=APITypes(api_type)
        )
        return InvokeResult(
            message=msg,
            raw_response={"content": out.content, "tool_calls": [t.__dict__ for t in out.tool_calls]},
            model_args=dict(model_args or {}),
            execution_errors=errors,
            request={
                "provider": "test",
                "model": model,
                "tools": [f.name for f in fns],
                "messages": [{"role": m.role.value, "content": m.text} for m in messages],
            },
            started_at=started,
            latency_s=time.time() - started,
        )

    async def acall(self, *args: Any, **kw: Any) -> InvokeResult:
        return self.call(*args, **kw)


_PROXY_ID = re.compile(r"\(id: ([A-Za-z0-9_.-]+)\)")
_DOC_CALL = re.compile(r"""^Call: CALL_API\((["'])([^"']+)\1, (\{.*\})\)$""", re.MULTILINE)


def _proxy_calls(fns: List[Any], messages: List[Message], turn: List[Message]) -> Optional[List[Tuple[str, Any]]]:
    """The proxy flow of an agent with a ``proxy:`` block: read the docs of the first proxy in the system
    prompt's API directory (other tools are called alongside), then run code calling its first
    documented endpoint with the documented example parameters; ``None`` when that flow is done or absent."""
    names = {f.name for f in fns}
    if "run_python" not in names and "query_api_doc" not in names:
        return None
    called = {fc.name for m in turn if m.role == Roles.TOOL_CALL for fc in m.function_calls}
    system = "\n".join(m.text for m in messages if m.role == Roles.SYSTEM)
    pid = next(iter(_PROXY_ID.findall(system)), None)
    if pid is None:
        return None
    if not called:
        calls: List[Tuple[str, Any]] = [
            (f.name, sample_json(f.parameters, name=f.name))
            for f in fns
            if f.name not in ("query_api_doc", "run_python")
        ]
        if "query_api_doc" in names:
            return [("query_api_doc", {"proxy_name": pid}), *calls]
        return [("run_python", {"code": _proxy_code(pid, "")}), *calls]
    if "run_python" in names and "run_python" not in called:
        docs = "\n".join(m.text for m in turn if m.role == Roles.TOOL and m.name == "query_api_doc")
        return [("run_python", {"code": _proxy_code(pid, docs)})]
    return None


def _proxy_code(pid: str, docs: str) -> str:
    """Code calling one real endpoint: the first documented one whose example parameters are all given."""
    found = [(path, params) for _, path, text in _DOC_CALL.findall(docs) for params in [_doc_params(text)]]
    found = [(path, params) for path, params in found if path.startswith(pid + "/") and isinstance(params, dict)]
    if not found:
        return f"print(CALL_API({pid + '/'!r}, {{}}))"  # raises a KeyError listing the endpoints: still true
    path, params = next(((p, a) for p, a in found if None not in a.values()), found[0])
    params = {k: v for k, v in params.items() if v is not None}
    return (
        f"import json\nresult = CALL_API({path!r}, {params!r})\nprint({path!r}, json.dumps(result, default=str)[:1500])"
    )


def _doc_params(text: str) -> Any:
    """The example parameters of a "Call:" line: JSON as an older lllm wrote them, else a Python literal."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _current_turn(messages: List[Message]) -> List[Message]:
    """Messages after the last user/system message that is not a tool result."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role in (Roles.USER, Roles.SYSTEM) and messages[i].modality != Modalities.FUNCTION_CALL:
            if i > 0 and messages[i - 1].role == Roles.TOOL:  # e.g. the "final answer" nudge after tools
                continue
            return messages[i + 1 :]
    return messages


def _result_text(text: str) -> str:
    """The tool's own output inside the default processor's ``---`` fences, else the whole text."""
    parts = text.split("\n---\n")
    return (parts[1] if len(parts) >= 3 else text).strip()


def _answer(prompt: Any, messages: List[Message], turn: List[Message], hints: Dict[str, Any]) -> str:
    """Text that satisfies the prompt's ``format`` or tag parser; otherwise a plain summary."""
    schema = prompt.format_schema() if prompt is not None and getattr(prompt, "format", None) is not None else None
    if schema is not None:
        return json.dumps(sample_json(schema[1], name=schema[0], hints=hints))
    ask = next((m.text for m in reversed(messages) if m.role == Roles.USER and m.text), "")
    results = [m for m in turn if m.role == Roles.TOOL]
    body = f"Test answer to: {ask[:160]}"
    if results:
        body += "\nUsing " + "; ".join(f"{m.name}: {_result_text(m.text)[:160]}" for m in results)
    parser = getattr(prompt, "parser", None) if prompt is not None else None
    if parser is None:
        return body
    parts = [body]
    for tag in dict.fromkeys([*getattr(parser, "xml_tags", []), *getattr(parser, "required_xml_tags", [])]):
        parts.append(f"<{tag}>test {tag}</{tag}>")
    for tag in dict.fromkeys([*getattr(parser, "md_tags", []), *getattr(parser, "required_md_tags", [])]):
        parts.append(f"```{tag}\ntest {tag}\n```")
    for tag in getattr(parser, "signal_tags", []):
        parts.append(f"<{tag}>")
    return "\n".join(parts)


__all__ = ["MockInvoker", "MockRequest", "TestInvoker", "tool_calls", "sample_json", "ScriptItem"]
