"""Native invoker for OpenAI-compatible Chat Completions (and the OpenAI Responses API).

A thin translation layer over the shared pooled HTTP client (``lllm.invokers.http``):
build the JSON body from the Dialog, POST it, read the answer with plain dict access, and
hand the extracted ``ModelOutput`` to ``finish_output``. Serves OpenAI, Azure and
every OpenAI-compatible provider in ``lllm.invokers.router.PROVIDERS``. Never retries."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Tuple

from lllm.core.const import APITypes, Modalities, Roles
from lllm.core.stream import emit_chunk, emit_done
from lllm.errors import ProviderError
from lllm.invokers import http
from lllm.invokers.base import (
    ModelOutput,
    PreparedRequest,
    ProviderInvoker,
    ToolCallOut,
    check_format_api_type,
    effective_functions,
    request_record,
)
from lllm.invokers.context_windows import context_window
from lllm.invokers.router import openai_target, resolve_endpoint
from lllm.secrets import register_settings, strip_userinfo

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.dialog import Dialog
    from lllm.core.message import Message
    from lllm.core.prompt import Function, Prompt
    from lllm.core.stream import BaseStreamHandler

# model_args that configure the client, not the request body (LiteLLM / OpenAI SDK names); the retry
# knobs are dropped: invokers never retry, the agent loop's budgets are the one retry policy
CLIENT_ARGS = (
    "timeout",
    "api_base",
    "base_url",
    "api_key",
    "extra_headers",
    "api_version",
    "organization",
    "extra_body",
    "num_retries",
    "max_retries",
    "drop_params",
)
RESPONSES_FINAL_EVENTS = ("response.completed", "response.incomplete", "response.failed")
_NO_STREAM_OPTIONS = frozenset({"mistral"})  # rejects the field; sends usage in the last chunk anyway
_REQUEST_ERROR_TYPES = frozenset(
    {"invalid_request_error", "authentication_error", "permission_error", "not_found_error", "validation"}
)
_DEFAULT_NAMES = frozenset({"", "user", "system", "assistant", "developer", "tool", "internal"})
_args_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


# ---------------------------------------------------------------------------------------------
# Request building
# ---------------------------------------------------------------------------------------------


def _image_url(m: "Message") -> str:
    data = m.content if isinstance(m.content, str) else ""
    if data.startswith(("data:", "http://", "https://")):
        return data
    return f"data:{m.metadata.get('mime_type') or 'image/png'};base64,{data}"


def _tool_call_id(m: "Message") -> str:
    tcid: Optional[str] = m.metadata.get("tool_call_id")
    if not tcid:
        raise ValueError(
            f"Tool message from '{m.name}' has no metadata['tool_call_id'], so its result cannot be "
            f"matched to a tool call (content: {str(m.content)[:80]!r})."
        )
    return tcid


def chat_messages(
    messages: Iterable["Message"], system_role: str = "system", names: bool = False
) -> List[Dict[str, Any]]:
    """Dialog messages → Chat Completions ``messages``: system → ``system_role``; tool calls → assistant
    ``tool_calls`` with only the provider's own text (null if none); tool results → role ``tool`` with
    ``tool_call_id``; images → [caption, data URL]. ``names`` adds non-default speaker names (OpenAI only)."""
    out: List[Dict[str, Any]] = []
    append = out.append
    for m in messages:
        role = m.role
        if m.function_calls:
            text = m.text
            append(
                {
                    "role": "assistant",
                    "content": text or None,
                    "tool_calls": [
                        {
                            "id": fc.id,
                            "type": "function",
                            "function": {"name": fc.name, "arguments": _args_json(fc.arguments)},
                        }
                        for fc in m.function_calls
                    ],
                }
            )
            continue
        if role is Roles.TOOL:
            append({"role": "tool", "tool_call_id": _tool_call_id(m), "content": m.content})
            continue
        wire_role = system_role if role is Roles.SYSTEM else ("assistant" if role is Roles.TOOL_CALL else role.value)
        if m.modality is Modalities.IMAGE:
            caption = m.metadata.get("caption")
            parts: List[Dict[str, Any]] = [{"type": "text", "text": caption}] if caption else []
            parts.append({"type": "image_url", "image_url": {"url": _image_url(m)}})
            d: Dict[str, Any] = {"role": wire_role, "content": parts}
        else:
            d = {"role": wire_role, "content": m.content}
        if names and m.name not in _DEFAULT_NAMES:
            d["name"] = m.sanitized_name
        append(d)
    return out


def responses_input(messages: Iterable["Message"], system_role: str = "developer") -> List[Dict[str, Any]]:
    """Dialog messages → Responses API ``input`` items."""
    out: List[Dict[str, Any]] = []
    for m in messages:
        role = m.role
        if m.function_calls:
            if m.text:
                out.append({"role": "assistant", "content": m.text})
            out.extend(
                {"type": "function_call", "call_id": fc.id, "name": fc.name, "arguments": _args_json(fc.arguments)}
                for fc in m.function_calls
            )
        elif role is Roles.TOOL:
            out.append(
                {
                    "type": "function_call_output",
                    "call_id": _tool_call_id(m),
                    "output": m.content if isinstance(m.content, str) else m.text,
                }
            )
        else:
            wire_role = (
                system_role if role is Roles.SYSTEM else ("assistant" if role is Roles.TOOL_CALL else role.value)
            )
            if m.modality is Modalities.IMAGE:
                caption = m.metadata.get("caption")
                parts: List[Dict[str, Any]] = [{"type": "input_text", "text": caption}] if caption else []
                parts.append({"type": "input_image", "image_url": _image_url(m)})
                out.append({"role": wire_role, "content": parts})
            else:
                out.append({"role": wire_role, "content": m.content})
    return out


def responses_tools(tools: List[Dict[str, Any]], prompt: Optional["Prompt"]) -> List[Dict[str, Any]]:
    """Function tools in the Responses API's flat shape, plus the prompt's MCP servers and built-in
    tools (``web_search`` / ``computer_use`` addon args, with the 0.1.x defaults)."""
    out: List[Dict[str, Any]] = [
        dict(t["function"], type="function") if t.get("type") == "function" and "function" in t else t for t in tools
    ]
    if prompt is not None:
        out.extend(server.to_tool() for server in getattr(prompt, "mcp_servers", {}).values())
        if getattr(prompt, "allow_web_search", False):
            out.append({"type": "web_search_preview"})
        cu = getattr(prompt, "computer_use_config", None)
        if cu:
            out.append(
                {
                    "type": "computer_use_preview",
                    "display_width": cu.get("display_width", 1280),
                    "display_height": cu.get("display_height", 800),
                    "environment": cu.get("environment", "browser"),
                }
            )
    return out


def response_format(prompt: Optional["Prompt"]) -> Optional[Dict[str, Any]]:
    """``prompt.format`` as a Chat Completions ``response_format`` (json_schema, non-strict)."""
    if prompt is None or getattr(prompt, "format", None) is None:
        return None
    fs = prompt.format_schema()
    if not fs:
        return None
    name, schema = fs
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}


# ---------------------------------------------------------------------------------------------
# Response parsing (plain dict access)
# ---------------------------------------------------------------------------------------------


def chat_usage(u: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Provider usage → the normalised keys (cached tokens: OpenAI details, Mistral, DeepSeek)."""
    if not u:
        return {}
    p = u.get("prompt_tokens") or 0
    c = u.get("completion_tokens") or 0
    ptd = u.get("prompt_tokens_details")
    ctd = u.get("completion_tokens_details")
    out = {
        "prompt_tokens": p,
        "completion_tokens": c,
        "total_tokens": u.get("total_tokens") or p + c,
        "cached_prompt_tokens": (
            (ptd.get("cached_tokens") if ptd else None)
            or u.get("num_cached_tokens")
            or u.get("prompt_cache_hit_tokens")
            or 0
        ),
        "reasoning_tokens": (ctd.get("reasoning_tokens") if ctd else None) or 0,
    }
    write = u.get("cache_creation_input_tokens")  # LiteLLM's name for Anthropic cache writes
    if write:
        out["cache_write_tokens"] = write
    return out


def _tool_call_out(tc: Dict[str, Any]) -> ToolCallOut:
    fn = tc.get("function") or {}
    args = fn.get("arguments")
    if args is not None and not isinstance(args, str):
        args = json.dumps(args)
    return ToolCallOut(
        id=tc.get("id") or f"call_{uuid.uuid4().hex[:24]}", name=fn.get("name") or "", arguments=args or ""
    )


def content_text(content: Any) -> str:
    """Message/delta ``content`` as text: a string, or the text of a list of content parts (Mistral's
    reasoning models answer ``[{"type": "thinking", ...}, {"type": "text", "text": ...}]``)."""
    if isinstance(content, str) or not content:
        return content or ""
    return "".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text")


def body_error(data: Dict[str, Any], provider: str) -> ProviderError:
    """A ProviderError for an error envelope inside a 200 answer or a stream (e.g. OpenRouter)."""
    err = data.get("error")
    code = err.get("code") if isinstance(err, dict) else None
    etype = err.get("type") if isinstance(err, dict) else data.get("error_type")  # TGI: {"error": "...", "error_type"}
    status = code if isinstance(code, int) else None
    if status is not None:
        kind = http.classify_status(status)
    elif code in ("rate_limit_exceeded", "rate_limit_error"):
        kind = "rate_limit"
    elif code is None and etype in _REQUEST_ERROR_TYPES:  # the request itself is wrong: a retry cannot succeed
        kind = None
    else:
        kind = "transient" if code in (None, "server_error", "internal_error", "overloaded_error") else None
    msg, tags = http.error_details(data)
    return ProviderError(
        f"{provider or 'provider'} API error"
        + (f" {status}" if status else "")
        + (f" ({tags})" if tags else "")
        + f": {msg}",
        status=status,
        kind=kind,
        body=data,
        provider=provider,
    )


def parse_chat(data: Dict[str, Any], provider: str = "") -> ModelOutput:
    """A Chat Completions JSON body → ModelOutput."""
    choices = data.get("choices")
    if not choices:
        if data.get("error"):
            raise body_error(data, provider)
        raise ProviderError(
            f"{provider or 'provider'} returned no choices: {json.dumps(data, default=str)[:300]}",
            kind="transient",
            body=data,
            provider=provider,
        )
    ch = choices[0]
    msg = ch.get("message") or {}
    out = ModelOutput(
        content=content_text(msg.get("content")),
        model=data.get("model"),
        finish_reason=ch.get("finish_reason"),
        usage=chat_usage(data.get("usage")),
    )
    tcs = msg.get("tool_calls")
    if tcs:
        out.tool_calls = [_tool_call_out(tc) for tc in tcs]
    lp = ch.get("logprobs")
    if lp and lp.get("content"):
        out.logprobs = lp["content"]
    reasoning = msg.get("reasoning") or msg.get("reasoning_content")
    if reasoning:
        out.metadata["reasoning"] = reasoning
    if msg.get("refusal"):
        out.metadata["refusal"] = msg["refusal"]
    return out


def responses_usage(u: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    if not u:
        return {}
    p, c = u.get("input_tokens") or 0, u.get("output_tokens") or 0
    itd, otd = u.get("input_tokens_details") or {}, u.get("output_tokens_details") or {}
    return {
        "prompt_tokens": p,
        "completion_tokens": c,
        "total_tokens": u.get("total_tokens") or p + c,
        "cached_prompt_tokens": itd.get("cached_tokens") or 0,
        "reasoning_tokens": otd.get("reasoning_tokens") or 0,
    }


def parse_responses(data: Dict[str, Any], provider: str = "") -> ModelOutput:
    """A Responses API ``response`` object → ModelOutput."""
    if data.get("error"):
        raise body_error(data, provider)
    texts: List[str] = []
    calls: List[ToolCallOut] = []
    meta: Dict[str, Any] = {}
    for item in data.get("output") or ():
        t = item.get("type")
        if t == "message":
            for part in item.get("content") or ():
                if part.get("type") == "output_text":
                    texts.append(part.get("text") or "")
                elif part.get("type") == "refusal":
                    meta["refusal"] = part.get("refusal")
        elif t == "function_call":
            calls.append(
                ToolCallOut(
                    id=item.get("call_id") or item.get("id") or f"call_{uuid.uuid4().hex[:24]}",
                    name=item.get("name") or "",
                    arguments=item.get("arguments") or "",
                )
            )
        elif t == "reasoning":
            summary = "".join(s.get("text", "") for s in item.get("summary") or () if isinstance(s, dict))
            if summary:
                meta["reasoning"] = summary
        elif t:
            meta.setdefault("output_items", []).append(item)  # built-in tools (web search, computer use, ...)
    status = data.get("status")
    if status == "incomplete":
        status = (data.get("incomplete_details") or {}).get("reason") or status
    return ModelOutput(
        content="".join(texts),
        tool_calls=calls,
        usage=responses_usage(data.get("usage")),
        model=data.get("model"),
        finish_reason=status,
        metadata=meta,
    )


# ---------------------------------------------------------------------------------------------
# The invoker
# ---------------------------------------------------------------------------------------------


class StreamedToolCalls:
    """Assembles tool calls from streamed Chat Completions deltas (keyed by ``index``, else by ``id``)."""

    def __init__(self) -> None:
        self._calls: Dict[Any, List[Any]] = {}
        self._last: Any = None
        self._open: Dict[Any, Any] = {}  # index -> key of the call now streaming under it

    def add(self, delta: Dict[str, Any]) -> None:
        index, tcid = delta.get("index"), delta.get("id")
        if index is None:
            key = tcid or self._last
        else:
            key = self._open.get(index, index)
            held = self._calls.get(key)
            if held is not None and tcid and held[0] and tcid != held[0]:
                # a new call under an index in use (Gemini's OpenAI-compatible API numbers every parallel call 0)
                key = self._open[index] = (index, tcid)
        self._last = key
        acc = self._calls.get(key)
        if acc is None:
            acc = self._calls[key] = [None, "", []]
        if delta.get("id"):
            acc[0] = delta["id"]
        fn = delta.get("function") or {}
        if fn.get("name"):
            acc[1] = fn["name"]
        args = fn.get("arguments")
        if args:
            acc[2].append(args if isinstance(args, str) else json.dumps(args))

    def done(self) -> List[ToolCallOut]:
        return [
            ToolCallOut(id=i or f"call_{uuid.uuid4().hex[:24]}", name=n, arguments="".join(a))
            for i, n, a in self._calls.values()
        ]


class ChatStream:
    """Assembles a streamed Chat Completions answer chunk by chunk, sending text deltas to ``handler``.

    Shared by the native and the LiteLLM invoker, so both read a stream the same way."""

    __slots__ = ("out", "text", "reasoning", "refusal", "thinking", "calls", "handler", "provider")

    def __init__(self, handler: Optional["BaseStreamHandler"], provider: str = "") -> None:
        self.out = ModelOutput()
        self.text: List[str] = []
        self.reasoning: List[str] = []
        self.refusal: List[str] = []
        self.thinking: List[Any] = []  # Claude thinking-block fragments (LiteLLM's ``thinking_blocks``)
        self.calls = StreamedToolCalls()
        self.handler = handler
        self.provider = provider

    def feed(self, data: Dict[str, Any]) -> None:
        if data.get("error"):  # an error envelope inside the stream (e.g. OpenRouter)
            raise body_error(data, self.provider)
        out = self.out
        if data.get("model"):
            out.model = data["model"]
        u = data.get("usage") or (data.get("x_groq") or {}).get("usage")  # Groq: usage in x_groq
        if u:
            out.usage = chat_usage(u)
        for ch in data.get("choices") or ():
            if ch.get("index", 0) not in (0, None):  # n > 1: the answer is choice 0, as parse_chat reads it
                continue
            delta = ch.get("delta") or {}
            piece = content_text(delta.get("content"))
            if piece:
                self.text.append(piece)
                emit_chunk(self.handler, piece, data)
            r = delta.get("reasoning") or delta.get("reasoning_content")
            if r:
                self.reasoning.append(r)
            if delta.get("refusal"):
                self.refusal.append(delta["refusal"])
            if delta.get("thinking_blocks"):
                self.thinking.extend(delta["thinking_blocks"])
            for tc in delta.get("tool_calls") or ():
                self.calls.add(tc)
            lp = ch.get("logprobs")
            if lp and lp.get("content"):
                out.logprobs.extend(lp["content"])
            if ch.get("finish_reason"):
                out.finish_reason = ch["finish_reason"]

    def result(self) -> ModelOutput:
        out = self.out
        out.content = "".join(self.text)
        out.tool_calls = self.calls.done()
        if self.reasoning:
            out.metadata["reasoning"] = "".join(self.reasoning)
        if self.refusal:
            out.metadata["refusal"] = "".join(self.refusal)
        return out


def responses_stream_event(
    data: Dict[str, Any], handler: Optional["BaseStreamHandler"], provider: str, event: str = ""
) -> Optional[Dict[str, Any]]:
    """One Responses API stream event: a text delta goes to ``handler``, an ``error`` event is raised as
    a ProviderError; returns the final ``response`` object of a terminal event, else ``None``."""
    etype = data.get("type") or event
    if etype == "response.output_text.delta":
        emit_chunk(handler, data.get("delta") or "", data)
    elif etype in RESPONSES_FINAL_EVENTS:
        return data.get("response") or {}
    elif etype == "error":
        raise body_error({"error": data.get("error") or data}, provider)
    return None


class OpenAIInvoker(ProviderInvoker):
    """OpenAI-compatible Chat Completions (and Responses) over the pooled HTTP client (``lllm.invokers.http``).

    ``api_key``/``api_base``/``extra_headers`` come from model_args, else the invoker config, else the
    provider's environment variables. Config (optional): ``system_role`` to force ``"system"``/``"developer"``."""

    name = "openai"

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
        args = dict(model_args)
        client = {k: args.pop(k) for k in CLIENT_ARGS if k in args} if args else {}
        cfg = self.config
        register_settings(model_args)  # scrubbed by value (lllm.secrets); the config was, when set
        provider, wire_model = openai_target(model)
        responses = api_type == APITypes.RESPONSE
        check_format_api_type(prompt, api_type)
        extra_headers = client.get("extra_headers") or cfg.get("extra_headers")
        if client.get("organization"):
            extra_headers = {**(extra_headers or {}), "OpenAI-Organization": str(client["organization"])}
        ep = resolve_endpoint(
            provider,
            wire_model,
            api_base=client.get("api_base") or client.get("base_url") or cfg.get("api_base"),
            api_key=client.get("api_key") or cfg.get("api_key"),
            extra_headers=extra_headers,
            api_version=client.get("api_version") or cfg.get("api_version"),
            path="/responses" if responses else "/chat/completions",
        )
        native = provider == "azure" or (provider == "openai" and ep.official)  # OpenAI's own servers
        system_role = cfg.get("system_role") or ("developer" if native and provider == "openai" else "system")
        tools = [f.to_tool() for f in effective_functions(dialog, functions)]
        if responses:
            body: Dict[str, Any] = {"model": wire_model, "input": responses_input(dialog.messages, system_role)}
            tools = responses_tools(tools, prompt)
        else:
            body = {"model": wire_model, "messages": chat_messages(dialog.messages, system_role, native)}
            rf = response_format(prompt)
            if rf is not None:
                body["response_format"] = rf
        if tools:
            body["tools"] = tools
        if args:
            body.update(args)
        if client.get("extra_body"):
            body.update(client["extra_body"])
        if stream:
            body["stream"] = True
            if not responses and provider not in _NO_STREAM_OPTIONS:
                body["stream_options"] = {"include_usage": True}
        sent_args = {k: v for k, v in body.items() if k not in ("model", "messages", "input", "tools")}
        return PreparedRequest(
            provider,
            wire_model,
            body,
            request_record(provider, strip_userinfo(ep.url), wire_model, body, api_type, stream),
            sent_args,
            stream,
            responses,
            ep.url,
            ep.headers,
            client.get("timeout"),
        )

    async def send_request(self, req: PreparedRequest) -> Tuple[ModelOutput, Any]:
        _, _, raw = await http.post_json(req.url, req.headers, req.body, req.timeout, provider=req.provider)
        http.json_object(raw, req.provider)
        return (parse_responses(raw, req.provider) if req.responses else parse_chat(raw, req.provider)), raw

    async def stream_request(
        self, req: PreparedRequest, handler: Optional["BaseStreamHandler"]
    ) -> Tuple[ModelOutput, Any]:
        return await (self._stream_responses(req, handler) if req.responses else self._stream_chat(req, handler))

    # -- streaming ----------------------------------------------------------------------------------
    @staticmethod
    async def _stream_chat(
        req: PreparedRequest, handler: Optional["BaseStreamHandler"]
    ) -> Tuple[ModelOutput, List[Dict[str, Any]]]:
        chunks: List[Dict[str, Any]] = []
        asm = ChatStream(handler, req.provider)
        try:
            # a stream that ends after a finish_reason without [DONE] (older llama.cpp, TGI, ...) is whole
            async for _, data in http.post_sse(
                req.url,
                req.headers,
                req.body,
                req.timeout,
                provider=req.provider,
                require_end=lambda: asm.out.finish_reason is None,
            ):
                chunks.append(data)
                asm.feed(http.json_object(data, req.provider))
        finally:
            emit_done(handler)
        return asm.result(), chunks

    @staticmethod
    async def _stream_responses(
        req: PreparedRequest, handler: Optional["BaseStreamHandler"]
    ) -> Tuple[ModelOutput, List[Dict[str, Any]]]:
        events: List[Dict[str, Any]] = []
        final: Optional[Dict[str, Any]] = None
        provider = req.provider
        try:
            async for event, data in http.post_sse(
                req.url,
                req.headers,
                req.body,
                req.timeout,
                provider=provider,
                terminal_events=(*RESPONSES_FINAL_EVENTS, "error"),
            ):
                events.append(data)
                response = responses_stream_event(http.json_object(data, provider), handler, provider, event)
                if response is not None:
                    final = response
        finally:
            emit_done(handler)
        if final is None:  # pragma: no cover - post_sse raises on a stream without a terminal event
            raise ProviderError(
                f"{provider} stream ended without a final response", kind="transient", provider=provider
            )
        return parse_responses(final, provider), events

    # -- sizing -----------------------------------------------------------------------------------
    def context_window(self, model: str) -> Optional[int]:
        """From the genai-prices table for the routed provider (``lllm.invokers.context_windows``)."""
        provider, wire_model = openai_target(model)
        return context_window(wire_model, provider)

    async def aclose(self) -> None:
        await http.aclose_session()


__all__ = [
    "OpenAIInvoker",
    "chat_messages",
    "responses_input",
    "responses_tools",
    "response_format",
    "parse_chat",
    "parse_responses",
    "chat_usage",
    "ChatStream",
    "responses_stream_event",
]
