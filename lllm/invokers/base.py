"""The invoker contract: turn a Dialog into one model call and the model's answer into a Message.

Provider modules only translate (request building, response/SSE parsing, error mapping); the shared
steps (the ``ProviderInvoker.acall`` template, which tools are offered, output parsing and validation,
tool-argument decoding, cost) live here so every invoker behaves identically as seen by the agent loop."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple

from lllm.core.aio import in_daemon_thread
from lllm.core.const import APITypes, Modalities, Roles
from lllm.core.message import FunctionCall, Message
from lllm.core.protocols import InvokeResult
from lllm.errors import ParseError, ProviderError
from lllm.secrets import register_settings

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.dialog import Dialog
    from lllm.core.prompt import Function, Prompt
    from lllm.core.stream import BaseStreamHandler

DEFAULT_TIMEOUT_S = 600.0


@dataclass
class ToolCallOut:
    """A tool call as the provider sent it; ``arguments`` is the raw JSON text."""

    id: str
    name: str
    arguments: str


@dataclass
class ModelOutput:
    """What a provider adapter extracts from one response, before LLLM-level parsing."""

    content: str = ""
    tool_calls: List[ToolCallOut] = field(default_factory=list)
    usage: Dict[str, Any] = field(default_factory=dict)  # normalised keys, see InvokeCost.from_usage
    model: Optional[str] = None
    finish_reason: Optional[str] = None
    logprobs: List[Any] = field(default_factory=list)
    metadata: Dict[str, Any] = field(default_factory=dict)  # provider extras (e.g. thinking blocks)


def effective_functions(dialog: "Dialog", functions: Optional[List["Function"]]) -> List["Function"]:
    """The tools to offer: the explicit list (the agent loop passes it), else the top prompt's."""
    if functions is not None:
        return list(functions)
    prompt = dialog.top_prompt
    return list(prompt.functions.values()) if prompt is not None else []


def finish_output(
    out: ModelOutput,
    prompt: Optional["Prompt"],
    *,
    responder: str = "assistant",
    parser_args: Optional[Dict[str, Any]] = None,
    metadata: Optional[Dict[str, Any]] = None,
    api_type: APITypes = APITypes.COMPLETION,
) -> Tuple[Message, List[Exception]]:
    """Build the Message for ``out``: decode tool arguments, validate ``format``, run the parser.

    Errors are returned, not raised: the agent loop turns them into an exception retry."""
    errors: List[Exception] = []
    calls: List[FunctionCall] = []
    for tc in out.tool_calls:
        try:
            args = json.loads(tc.arguments) if tc.arguments and tc.arguments.strip() else {}
            if not isinstance(args, dict):
                raise ValueError(f"expected a JSON object, got {type(args).__name__}")
        except ValueError as e:
            errors.append(
                ParseError(
                    f"Tool call '{tc.name}' (id {tc.id}) has malformed JSON arguments: {e}. "
                    f"Send the arguments as one JSON object.",
                    detail=tc.arguments,
                )
            )
            args = {}
        calls.append(FunctionCall(id=tc.id, name=tc.name, arguments=args))
    parsed: Dict[str, Any] = {"raw": out.content}
    if not calls and prompt is not None:
        try:
            parsed = prompt.parse_output(out.content, **(parser_args or {}))
        except ParseError as e:
            errors.append(e)
    usage = dict(out.usage)
    usage.setdefault("total_tokens", int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0))
    meta = dict(metadata or {})
    if out.metadata:
        meta.update(out.metadata)
    if out.finish_reason is not None:
        meta.setdefault("finish_reason", out.finish_reason)
    fields: Dict[str, Any] = {}  # only what differs from Message's defaults: less to validate and to hold
    if calls:
        fields.update(function_calls=calls, modality=Modalities.FUNCTION_CALL)
    if out.logprobs:
        fields["logprobs"] = out.logprobs
    if api_type != APITypes.COMPLETION:
        fields["api_type"] = api_type
    msg = Message(
        role=Roles.TOOL_CALL if calls else Roles.ASSISTANT,
        content=out.content or "",
        name=responder,
        parsed=parsed,
        model=out.model,
        usage=usage,
        metadata=meta,
        **fields,
    )
    return msg, errors


def request_record(
    provider: str, url: Optional[str], model: str, body: Dict[str, Any], api_type: APITypes, stream: bool
) -> Dict[str, Any]:
    """``InvokeResult.request`` (§9.3): what was sent, where. Never the headers (they hold the key)."""
    return {
        "provider": provider,
        "url": url,
        "model": model,
        "body": body,
        "api_type": api_type.value if isinstance(api_type, APITypes) else str(api_type),
        "stream": stream,
    }


def result_from_output(
    out: ModelOutput,
    prompt: Optional["Prompt"],
    *,
    provider: str,
    wire_model: str,
    raw: Any,
    request: Dict[str, Any],
    sent_args: Dict[str, Any],
    started_at: float,
    t0: float,
    responder: str,
    parser_args: Optional[Dict[str, Any]],
    metadata: Optional[Dict[str, Any]],
    api_type: APITypes,
) -> InvokeResult:
    """The shared last phase of every provider invoker: price the usage, build the message, wrap it up."""
    if out.model is None:
        out.model = wire_model
    if out.usage:
        from lllm.invokers.pricing import price_usage

        snapshot = out.model != wire_model  # the answer's name, maybe a dated snapshot the table lacks
        price_usage(provider, out.model, out.usage, warn=not snapshot)
        if not out.usage["cost"] and snapshot:  # then the requested name prices it (and warns if it cannot)
            price_usage(provider, wire_model, out.usage)
    msg, errors = finish_output(
        out, prompt, responder=responder, parser_args=parser_args, metadata=metadata, api_type=api_type
    )
    return InvokeResult(
        message=msg,
        raw_response=raw,
        model_args=sent_args,
        execution_errors=errors,
        request=request,
        started_at=started_at,
        latency_s=time.perf_counter() - t0,
    )


def classify_exception(exc: BaseException) -> Optional[str]:
    """``"rate_limit"`` | ``"transient"`` | ``None`` (fatal) for any exception an invoker may raise."""
    if isinstance(exc, ProviderError):
        return exc.kind
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError)):
        return "transient"
    aiohttp = sys.modules.get("aiohttp")  # imported lazily: its errors exist only once it is loaded
    if aiohttp is not None and isinstance(
        exc, (aiohttp.ClientConnectionError, aiohttp.ServerTimeoutError, aiohttp.ClientPayloadError)
    ):
        return "transient"
    return None


class BaseInvoker(ABC):
    """Calls a model. Subclasses implement ``call`` (sync) and may implement ``acall`` natively.

    Invokers never retry: the agent loop's budgets are the one retry policy."""

    name: str = "base"
    #: Whether the agent loop waits (backoff) between retries with this invoker; a replay answers instantly.
    retry_waits: bool = True

    def __init__(self, config: Optional[Dict[str, Any]] = None):
        self.config = dict(config or {})

    @property
    def config(self) -> Dict[str, Any]:
        """The invoker's settings. Their credentials are registered for scrubbing when they are set; a request
        registers its own ``model_args`` and the endpoint's headers (``lllm.secrets``)."""
        return self._config

    @config.setter
    def config(self, value: Dict[str, Any]) -> None:
        register_settings(value)
        self._config = value

    @abstractmethod
    def call(
        self,
        dialog: "Dialog",
        model: str,
        model_args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        responder: str = "assistant",
        metadata: Optional[Dict[str, Any]] = None,
        api_type: APITypes = APITypes.COMPLETION,
        stream_handler: Optional["BaseStreamHandler"] = None,
        *,
        functions: Optional[List["Function"]] = None,
    ) -> InvokeResult:
        """Invoke ``model`` on ``dialog``; ``functions`` overrides the tools offered ([] = none)."""

    async def acall(
        self,
        dialog: "Dialog",
        model: str,
        model_args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        responder: str = "assistant",
        metadata: Optional[Dict[str, Any]] = None,
        api_type: APITypes = APITypes.COMPLETION,
        stream_handler: Optional["BaseStreamHandler"] = None,
        *,
        functions: Optional[List["Function"]] = None,
    ) -> InvokeResult:
        """Async variant; by default runs ``call`` in a daemon thread (a stuck one does not hold up exit)."""
        return await in_daemon_thread(  # type: ignore[no-any-return]
            self.call,
            dialog,
            model,
            model_args,
            parser_args,
            responder,
            metadata,
            api_type,
            stream_handler,
            functions=functions,
        )

    def classify_error(self, exc: BaseException) -> Optional[str]:
        return classify_exception(exc)

    def count_tokens(self, model: str, messages: List[Message]) -> int:
        """A fast estimate (about four characters a token) used by context management."""
        from lllm.core.tokens import estimate_messages_tokens

        return estimate_messages_tokens(messages)

    def context_window(self, model: str) -> Optional[int]:
        """The context window of ``model`` if known, else ``None``; by default from the genai-prices table
        (``lllm.invokers.context_windows``, with a ``provider/`` prefix of ``model`` naming the provider)."""
        from lllm.invokers.context_windows import context_window

        return context_window(model)

    def recorded_tool_call(self, agent: str, call: FunctionCall) -> Optional[FunctionCall]:
        """The recorded result of ``call`` made by ``agent`` (a replay answers tools too); ``None`` runs the tool."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - an optional hook, a no-op by default
        """Release pooled connections (optional)."""


class AsyncInvoker(BaseInvoker):
    """An invoker whose native API is async; the sync ``call`` runs ``acall`` on LLLM's background loop."""

    def call(
        self,
        dialog: "Dialog",
        model: str,
        model_args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        responder: str = "assistant",
        metadata: Optional[Dict[str, Any]] = None,
        api_type: APITypes = APITypes.COMPLETION,
        stream_handler: Optional["BaseStreamHandler"] = None,
        *,
        functions: Optional[List["Function"]] = None,
    ) -> InvokeResult:
        from lllm.core.aio import run_sync

        return run_sync(
            self.acall(
                dialog,
                model,
                model_args,
                parser_args,
                responder,
                metadata,
                api_type,
                stream_handler,
                functions=functions,
            )
        )

    @abstractmethod
    async def acall(
        self,
        dialog: "Dialog",
        model: str,
        model_args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        responder: str = "assistant",
        metadata: Optional[Dict[str, Any]] = None,
        api_type: APITypes = APITypes.COMPLETION,
        stream_handler: Optional["BaseStreamHandler"] = None,
        *,
        functions: Optional[List["Function"]] = None,
    ) -> InvokeResult:
        """Invoke ``model`` on ``dialog`` (natively async)."""


@dataclass(eq=False, slots=True)
class PreparedRequest:
    """One call as a provider invoker built it: what the shared template needs, plus the transport fields.

    ``record`` becomes ``InvokeResult.request`` (and ``ProviderError.request``); ``provider`` and
    ``wire_model`` price the usage; ``url``/``headers``/``body``/``timeout`` are for the provider's own
    send and stream steps (``body`` may be SDK keyword arguments rather than JSON)."""

    provider: str
    wire_model: str
    body: Dict[str, Any]
    record: Dict[str, Any]
    sent_args: Dict[str, Any]
    stream: bool = False
    responses: bool = False
    url: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: Optional[float] = None


class ProviderInvoker(AsyncInvoker):
    """The one ``acall`` of the provider invokers (OpenAI-compatible, Anthropic, LiteLLM).

    It times the call, builds the request, sends or streams it, attaches what was sent to any
    ``ProviderError`` and turns the answer into an ``InvokeResult``. A provider only translates:
    ``build_request`` (dialog → request), ``send_request`` (request → ``ModelOutput`` and the raw
    answer) and ``stream_request`` (the same over a stream, feeding the handler); ``translate_error``
    may map a foreign SDK's exceptions to ``ProviderError``."""

    async def acall(
        self,
        dialog: "Dialog",
        model: str,
        model_args: Optional[Dict[str, Any]] = None,
        parser_args: Optional[Dict[str, Any]] = None,
        responder: str = "assistant",
        metadata: Optional[Dict[str, Any]] = None,
        api_type: APITypes = APITypes.COMPLETION,
        stream_handler: Optional["BaseStreamHandler"] = None,
        *,
        functions: Optional[List["Function"]] = None,
    ) -> InvokeResult:
        started_at = time.time()
        t0 = time.perf_counter()
        prompt = dialog.top_prompt
        stream = stream_handler is not None or (model_args is not None and model_args.get("stream") is True)
        req = self.build_request(dialog, prompt, model, model_args or {}, api_type, functions, stream)
        try:
            if stream:
                out, raw = await self.stream_request(req, stream_handler)
            else:
                out, raw = await self.send_request(req)
        except ProviderError as e:
            e.request = req.record  # so the failed attempt is recorded with what was sent
            raise
        except Exception as e:
            err = self.translate_error(e, req)
            if err is None:
                raise
            err.request = req.record
            raise err from e
        return result_from_output(
            out,
            prompt,
            provider=req.provider,
            wire_model=req.wire_model,
            raw=raw,
            request=req.record,
            sent_args=req.sent_args,
            started_at=started_at,
            t0=t0,
            responder=responder,
            parser_args=parser_args,
            metadata=metadata,
            api_type=api_type,
        )

    @abstractmethod
    def build_request(
        self,
        dialog: "Dialog",
        prompt: Optional["Prompt"],
        model: str,
        model_args: Dict[str, Any],
        api_type: APITypes,
        functions: Optional[List["Function"]],
        stream: bool,
    ) -> PreparedRequest:
        """The request for one call (``model_args`` must not be mutated); raise before any network call."""

    @abstractmethod
    async def send_request(self, req: PreparedRequest) -> Tuple[ModelOutput, Any]:
        """Send ``req`` and parse the answer: ``(output, raw answer)``."""

    @abstractmethod
    async def stream_request(
        self, req: PreparedRequest, handler: Optional["BaseStreamHandler"]
    ) -> Tuple[ModelOutput, Any]:
        """Send ``req`` as a stream, text deltas to ``handler`` (then ``emit_done``): ``(output, raw events)``."""

    def translate_error(self, exc: Exception, req: PreparedRequest) -> Optional[ProviderError]:
        """The ``ProviderError`` for an exception a foreign SDK raised, or ``None`` to let it through."""
        return None


def check_format_api_type(prompt: Optional["Prompt"], api_type: APITypes) -> None:
    """A ``format`` cannot be requested through the Responses API: fail before any network call."""
    if api_type == APITypes.RESPONSE and prompt is not None and getattr(prompt, "format", None) is not None:
        from lllm.errors import ConfigError

        raise ConfigError(
            f"Prompt '{getattr(prompt, 'path', '?')}' sets `format`, which the Responses API "
            f"(api_type='response') does not support; remove `format` or use api_type='completion'."
        )


# ---------------------------------------------------------------------------------------------
# Registry and routing (§4, §4.1)
# ---------------------------------------------------------------------------------------------

_BUILDERS: Dict[str, Callable[[Dict[str, Any]], BaseInvoker]] = {}


def register_invoker(name: str, builder: Callable[[Dict[str, Any]], BaseInvoker], *, overwrite: bool = False) -> None:
    """Register ``builder(config) -> BaseInvoker`` under ``name`` for ``invoker: <name>`` configs."""
    with _builtin_lock:
        if name in _BUILDERS and not overwrite:
            raise ValueError(f"Invoker '{name}' is already registered; pass overwrite=True to replace it.")
        _BUILDERS[name] = builder


def registered_invokers() -> List[str]:
    _ensure_builtin()
    return sorted(_BUILDERS)


def build_invoker(config: Optional[Dict[str, Any]] = None) -> BaseInvoker:
    """Build the invoker a tactic config asks for (``invoker``, default ``auto``)."""
    config = dict(config or {})
    _ensure_builtin()
    name = config.get("invoker") or "auto"
    if not isinstance(name, str):
        from lllm.errors import ConfigError

        raise ConfigError(f"'invoker' must be a string, got {type(name).__name__}: {name!r}")
    if name not in _BUILDERS:
        raise KeyError(f"Unknown invoker '{name}'. Registered invokers: {sorted(_BUILDERS)}")
    inv_config = config.get("invoker_config", config)
    return _BUILDERS[name](dict(inv_config or {}))


_builtin_done = False
_builtin_lock = threading.RLock()  # re-entrant: registering imports modules that may look invokers up


def _ensure_builtin() -> None:
    """Register the built-in invokers once; threads arriving meanwhile wait until they are registered."""
    global _builtin_done
    if _builtin_done:
        return
    with _builtin_lock:
        if _builtin_done:
            return
        from lllm.invokers import router  # registers auto/openai/anthropic/litellm/test

        router.register_builtin_invokers()
        _builtin_done = True  # set only once every built-in is registered


__all__ = [
    "InvokeResult",
    "ModelOutput",
    "ToolCallOut",
    "BaseInvoker",
    "AsyncInvoker",
    "ProviderInvoker",
    "PreparedRequest",
    "check_format_api_type",
    "request_record",
    "result_from_output",
    "finish_output",
    "effective_functions",
    "classify_exception",
    "register_invoker",
    "build_invoker",
    "registered_invokers",
    "DEFAULT_TIMEOUT_S",
]

from lllm.lazy import lazy_exports as _lazy_exports  # noqa: E402 - 0.1.x names kept here

__getattr__ = _lazy_exports(__name__, {"BaseStreamHandler": "lllm.core.stream", "InvokerBuilder": "lllm.compat"})
