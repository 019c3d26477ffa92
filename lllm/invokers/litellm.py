"""LiteLLM-backed invoker for every provider without a native invoker (the ``lllm[litellm]`` extra).

``litellm`` is imported at the first call, never at import. The request is built exactly as
the native OpenAI-compatible invoker builds it (same roles, tool-call ids, image parts), the
answer becomes the same ``ModelOutput``, costs come from the same price table
(``lllm.invokers.pricing``, not LiteLLM's cost map) and LiteLLM's errors are mapped to
``ProviderError`` with the same retry classes, so the agent loop cannot tell the invokers
apart. LiteLLM's own retries are turned off: the agent loop's budgets are the one retry policy."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from lllm.core.aio import background_loop, in_background_loop
from lllm.core.const import APITypes
from lllm.core.stream import emit_done
from lllm.errors import ConfigError, ProviderError
from lllm.invokers.anthropic import THINKING_KEY, anthropic_skills
from lllm.invokers.base import (
    DEFAULT_TIMEOUT_S,
    InvokeResult,
    ModelOutput,
    PreparedRequest,
    ProviderInvoker,
    check_format_api_type,
    effective_functions,
    request_record,
)
from lllm.invokers.context_windows import context_window
from lllm.invokers.openai import (
    ChatStream,
    chat_messages,
    parse_chat,
    parse_responses,
    response_format,
    responses_input,
    responses_stream_event,
    responses_tools,
)
from lllm.secrets import is_secret_name, register_settings, scrub_exception, strip_userinfo

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.dialog import Dialog
    from lllm.core.prompt import Function, Prompt
    from lllm.core.stream import BaseStreamHandler

# Never recorded in InvokeResult.request, nor is any argument named like a secret (aws_secret_access_key, …).
RECORD_SKIP = frozenset({"api_key", "extra_headers", "default_headers", "headers", "vertex_credentials"})
_litellm: Any = None


def load_litellm() -> Any:
    """Import LiteLLM on first use (a clear ConfigError if the extra is missing)."""
    global _litellm
    if _litellm is None:
        # LLLM prices calls itself: stop LiteLLM from fetching its remote cost map at import
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            import litellm
        except ImportError as e:
            raise ConfigError(
                "The 'litellm' invoker needs LiteLLM, which is not installed: pip install 'lllm[litellm]'"
            ) from e
        litellm.suppress_debug_info = True  # no "Provider List" / "Give Feedback" banners on stdout
        _litellm = litellm
    return _litellm


def split_provider(model: str) -> Tuple[str, str]:
    """``(provider, model name)`` in LiteLLM's ``provider/model`` convention (for pricing and records)."""
    prefix, sep, rest = model.partition("/")
    if sep and rest:
        return prefix, rest
    return ("anthropic" if model.startswith("claude") else ""), model


def _refuse_userinfo(provider: str, base: Any) -> None:
    """LiteLLM's HTTP client refuses an api_base's user:password@ next to the Authorization or key header it
    always sends (for every provider: OpenAI-compatible ones, Anthropic, vLLM, Ollama, ...): say so before
    anything is sent, not as a server error to retry (the native invoker sends such a URL's credential as Basic auth)."""
    if isinstance(base, str) and strip_userinfo(base) != base:
        raise ConfigError(
            f"litellm api_base {strip_userinfo(base)!r} carries a user:password@, which LiteLLM's HTTP client "
            f"cannot send (it always sends its own Authorization or key header); use the native invoker (invoker: auto) "
            f"for Basic auth in the URL, or pass the credential as api_key or extra_headers."
        )


def _is_anthropic(provider: str, model: str) -> bool:
    return provider in ("anthropic", "bedrock", "vertex_ai") and "claude" in model


def _to_dict(obj: Any) -> Any:
    if obj is None or isinstance(obj, (dict, list, str, int, float, bool)):
        return obj
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        try:
            return dump(warnings=False)  # LiteLLM swaps typed fields for dicts; its serializer would warn
        except TypeError:  # pragma: no cover - not a pydantic v2 model
            return dump()
    return dict(obj) if hasattr(obj, "keys") else obj


# ---------------------------------------------------------------------------------------------
# Error mapping
# ---------------------------------------------------------------------------------------------


def classify_litellm(exc: BaseException) -> Optional[str]:
    """``rate_limit`` for LiteLLM's RateLimitError (``None`` for an exhausted quota); ``transient`` for connection
    errors, timeouts, 503/500/502 and any 5xx; ``None`` (fatal) otherwise, including non-LiteLLM exceptions."""
    lt = _litellm
    if lt is None:
        return None
    if isinstance(exc, lt.RateLimitError):
        return None if _out_of_quota(exc) else "rate_limit"
    if isinstance(
        exc, (lt.APIConnectionError, lt.Timeout, lt.ServiceUnavailableError, lt.InternalServerError, lt.BadGatewayError)
    ):
        return "transient"
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status >= 500:
        return "transient"
    return None


def _out_of_quota(exc: BaseException) -> bool:
    """OpenAI's 429 ``insufficient_quota`` (an account out of credit): no wait makes a retry succeed."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    return isinstance(body, dict) and "insufficient_quota" in (body.get("code"), body.get("type"))


def _retry_after(exc: BaseException) -> Optional[float]:
    from lllm.invokers.http import parse_retry_after

    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    try:
        return parse_retry_after({str(k).lower(): v for k, v in dict(headers).items()})
    except Exception:  # noqa: BLE001 - a header we cannot read is no Retry-After
        return None


def to_provider_error(exc: BaseException, provider: str) -> Optional[ProviderError]:
    """The ProviderError for a LiteLLM / OpenAI-SDK exception, or ``None`` for anything else (a bug)."""
    lt = _litellm
    import openai  # a LiteLLM dependency; its errors are the base of LiteLLM's

    if not isinstance(exc, openai.OpenAIError) and not (lt is not None and isinstance(exc, lt.Timeout)):
        return None
    status = getattr(exc, "status_code", None)
    kind = classify_litellm(exc)
    msg = getattr(exc, "message", None) or str(exc)
    return ProviderError(
        f"{provider or 'litellm'} API error"
        + (f" {status}" if isinstance(status, int) else "")
        + f" ({type(exc).__name__}): {msg}",
        status=status if isinstance(status, int) else None,
        kind=kind,
        retry_after=_retry_after(exc) if kind else None,
        body=getattr(exc, "body", None),
        provider=provider or "litellm",
    )


# ---------------------------------------------------------------------------------------------
# Response parsing
# ---------------------------------------------------------------------------------------------


def parse_response(resp: Dict[str, Any]) -> ModelOutput:
    """A LiteLLM ``ModelResponse`` (as a dict) → ModelOutput: the native Chat Completions parser, plus
    LiteLLM's Claude ``thinking_blocks`` (kept for replay, like the native Anthropic invoker)."""
    out = parse_chat(resp, "litellm")
    blocks = (resp["choices"][0].get("message") or {}).get("thinking_blocks")
    if blocks:
        out.metadata[THINKING_KEY] = blocks
    return out


# ---------------------------------------------------------------------------------------------
# The invoker
# ---------------------------------------------------------------------------------------------


class LiteLLMInvoker(ProviderInvoker):
    """Calls any LiteLLM-supported model through ``litellm.acompletion`` (``aresponses`` for api_type="response")."""

    name = "litellm"

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
        call = self._acall(
            dialog, model, model_args, parser_args, responder, metadata, api_type, stream_handler, functions=functions
        )
        if in_background_loop():
            return await call
        # LiteLLM binds background tasks to the first event loop that calls it; running every call on LLLM's
        # one long-lived loop keeps sync and async use (and many short-lived loops) working together.
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call, background_loop()))

    async def _acall(self, *args: Any, functions: Optional[List["Function"]]) -> InvokeResult:
        load_litellm()  # before the template starts the clock: a first call's latency is the call's, not the import's
        return await super().acall(*args, functions=functions)

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
        register_settings(model_args)  # scrubbed by value (lllm.secrets); the config was, when set
        provider, name = split_provider(model)
        responses = api_type == APITypes.RESPONSE
        check_format_api_type(prompt, api_type)
        kwargs = self._request(dialog, model, provider, name, prompt, model_args, functions, responses)
        _refuse_userinfo(provider, kwargs.get("api_base") or kwargs.get("base_url"))
        if stream:
            kwargs["stream"] = True
            if not responses:
                kwargs["stream_options"] = dict(kwargs.get("stream_options") or {}, include_usage=True)
        record = {k: v for k, v in kwargs.items() if k not in RECORD_SKIP and not is_secret_name(k)}
        for key in ("api_base", "base_url"):
            if key in record:
                record[key] = strip_userinfo(record[key])
        if isinstance(record.get("response_format"), type):  # a pydantic model: record the schema LiteLLM sends
            fs = prompt.format_schema() if prompt is not None else None
            if fs is not None:
                record["response_format"] = {"type": "json_schema", "json_schema": {"name": fs[0], "schema": fs[1]}}
        request = request_record(
            provider or "litellm", strip_userinfo(kwargs.get("api_base")), model, record, api_type, stream
        )
        sent_args = {k: v for k, v in record.items() if k not in ("model", "messages", "input", "tools")}
        return PreparedRequest(provider, name, kwargs, request, sent_args, stream, responses)

    async def send_request(self, req: PreparedRequest) -> Tuple[ModelOutput, Any]:
        if req.responses:
            raw = _to_dict(await _litellm.aresponses(**req.body))
            return parse_responses(raw, req.provider), raw
        raw = _to_dict(await _litellm.acompletion(**req.body))
        return parse_response(raw), raw

    async def stream_request(
        self, req: PreparedRequest, handler: Optional["BaseStreamHandler"]
    ) -> Tuple[ModelOutput, Any]:
        try:
            if req.responses:
                return await self._consume_responses_stream(await _litellm.aresponses(**req.body), handler)
            return await self._consume_stream(await _litellm.acompletion(**req.body), handler)
        finally:
            emit_done(handler)

    def translate_error(self, exc: Exception, req: PreparedRequest) -> Optional[ProviderError]:
        """LiteLLM's (OpenAI-SDK) errors → ``ProviderError``; the SDK exception is scrubbed (it may echo the key)."""
        err = to_provider_error(exc, req.provider)
        if err is not None:
            scrub_exception(exc)
        return err

    def _request(
        self,
        dialog: "Dialog",
        model: str,
        provider: str,
        name: str,
        prompt: Optional["Prompt"],
        args: Dict[str, Any],
        functions: Optional[List["Function"]],
        responses: bool = False,
    ) -> Dict[str, Any]:
        """``litellm.acompletion`` (or ``aresponses``) keyword arguments, built like the native OpenAI invoker."""
        tools = [f.to_tool() for f in effective_functions(dialog, functions)]
        if responses:
            kwargs: Dict[str, Any] = {"model": model, "input": responses_input(dialog.messages)}
            rtools = responses_tools(tools, prompt)
            if rtools:
                kwargs["tools"] = rtools
        else:
            msgs = list(dialog.messages)
            wire = chat_messages(msgs, system_role="developer")
            if _is_anthropic(provider, name):  # replay thinking blocks as LiteLLM expects them for Claude
                for m, d in zip(msgs, wire):
                    blocks = m.metadata.get(THINKING_KEY)
                    if blocks and d["role"] == "assistant":
                        d["thinking_blocks"] = blocks
            kwargs = {"model": model, "messages": wire}
            if tools:
                kwargs["tools"] = tools
            fmt = getattr(prompt, "format", None) if prompt is not None else None
            if fmt is not None:
                kwargs["response_format"] = fmt if isinstance(fmt, type) else response_format(prompt)
        for key in ("api_key", "api_base"):
            if key in self.config and key not in args:
                kwargs[key] = self.config[key]
        kwargs.update(args)
        if kwargs.get("skills"):  # §3.4: Anthropic skills travel in the container parameter
            container = dict(kwargs.get("container") or {})
            container["skills"] = [*container.get("skills", ()), *anthropic_skills(kwargs.pop("skills"))]
            kwargs["container"] = container
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = DEFAULT_TIMEOUT_S
        kwargs.update(drop_params=True, num_retries=0, max_retries=0)
        return kwargs

    @staticmethod
    async def _consume_responses_stream(
        resp: Any, handler: Optional["BaseStreamHandler"]
    ) -> Tuple[ModelOutput, List[Any]]:
        events: List[Any] = []
        final: Optional[Dict[str, Any]] = None
        async for ev in resp:
            data = _to_dict(ev)
            events.append(data)
            response = responses_stream_event(data, handler, "litellm")
            if response is not None:
                final = response
        if final is None:
            raise ProviderError(
                "litellm responses stream ended without a final response", kind="transient", provider="litellm"
            )
        return parse_responses(final), events

    @staticmethod
    async def _consume_stream(resp: Any, handler: Optional["BaseStreamHandler"]) -> Tuple[ModelOutput, List[Any]]:
        chunks: List[Any] = []
        asm = ChatStream(handler, "litellm")
        async for chunk in resp:
            data = _to_dict(chunk)
            chunks.append(data)
            asm.feed(data)
        out = asm.result()
        if asm.thinking:
            out.metadata[THINKING_KEY] = _merge_thinking(asm.thinking)
        return out, chunks

    def classify_error(self, exc: BaseException) -> Optional[str]:
        if isinstance(exc, ProviderError):
            return exc.kind
        return classify_litellm(exc) or super().classify_error(exc)

    def context_window(self, model: str) -> Optional[int]:
        """LiteLLM's model table once LiteLLM is loaded, else (or if it lacks the model) genai-prices'."""
        if _litellm is not None:
            try:
                info = _litellm.get_model_info(model)
                window = info.get("max_input_tokens") or info.get("max_tokens")
            except Exception:  # noqa: BLE001 - unknown model
                window = None
            if window:
                return int(window)
        provider, name = split_provider(model)
        return context_window(name, provider or None)


def _merge_thinking(pieces: List[Any]) -> List[Dict[str, Any]]:
    """Streamed thinking-block fragments → whole blocks (text and signatures concatenated)."""
    blocks: List[Dict[str, Any]] = []
    for p in pieces:
        p = _to_dict(p) or {}
        if (
            blocks
            and p.get("type", "thinking") == blocks[-1].get("type") == "thinking"
            and not blocks[-1].get("signature")
        ):
            last = blocks[-1]
            last["thinking"] = (last.get("thinking") or "") + (p.get("thinking") or "")
            if p.get("signature"):
                last["signature"] = p["signature"]
        else:
            blocks.append(dict(p))
    return blocks


__all__ = [
    "LiteLLMInvoker",
    "load_litellm",
    "classify_litellm",
    "to_provider_error",
    "parse_response",
    "split_provider",
    "responses_tools",
]
