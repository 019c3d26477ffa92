"""Native invoker for the Anthropic Messages API.

A translation layer over the shared pooled HTTP client (``lllm.invokers.http``): Dialog →
Messages body (top-level ``system``, alternating user/assistant turns of content blocks,
``tool_use``/``tool_result`` pairs, base64 images, replayed thinking blocks), then the JSON or
SSE answer → ``ModelOutput`` (``lllm.invokers.anthropic_replies``), handed to ``finish_output`` like
every other invoker. Never retries: errors become ``ProviderError`` with a retry class."""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Set, Tuple

from lllm.core.const import APITypes, Modalities, Roles
from lllm.core.stream import emit_done
from lllm.errors import ConfigError, ProviderError
from lllm.invokers import http
from lllm.invokers.anthropic_replies import (
    ORDER_KEY,
    PROVIDER,
    THINKING_KEY,
    StreamAssembler,
    anthropic_usage,
    block_order,
    parse_message,
)
from lllm.invokers.base import (
    ModelOutput,
    PreparedRequest,
    ProviderInvoker,
    effective_functions,
    request_record,
)
from lllm.invokers.context_windows import context_window
from lllm.secrets import register_headers, register_settings, register_url, strip_userinfo

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.dialog import Dialog
    from lllm.core.message import Message
    from lllm.core.prompt import Function, Prompt
    from lllm.core.stream import BaseStreamHandler

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_API_BASE = "https://api.anthropic.com"
BASE_ENV = ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_BASE")
KEY_ENV = "ANTHROPIC_API_KEY"
DEFAULT_MAX_TOKENS = 4096

# model_args the invoker consumes itself (transport, or mapped onto Anthropic's own names)
CLIENT_ARGS = frozenset(
    {
        "api_key",
        "api_base",
        "base_url",
        "extra_headers",
        "timeout",
        "stream",
        "anthropic_version",
        "extra_body",
        "max_completion_tokens",
        "stop",
        "parallel_tool_calls",
        "reasoning_effort",
        "user",
        "skills",
        "tool_choice",
    }
)
# OpenAI-only parameters with no Anthropic equivalent: dropped, as LiteLLM's drop_params=True does
DROPPED_ARGS = frozenset(
    {
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "n",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "response_format",
        "stream_options",
        "modalities",
        "audio",
        "prediction",
        "store",
        "web_search_options",
        "verbosity",
        "functions",
        "function_call",
        "drop_params",
        "num_retries",
        "max_retries",
        "api_version",
        "organization",
    }
)
EFFORT_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096}  # LiteLLM's mapping
_urls: Dict[str, str] = {}
_headers: Dict[Tuple[Any, ...], Dict[str, str]] = {}


# ---------------------------------------------------------------------------------------------
# Request building
# ---------------------------------------------------------------------------------------------


def messages_url(base: str) -> str:
    """``…/v1/messages`` for an API base given with or without ``/v1`` (cached)."""
    url = _urls.get(base)
    if url is None:
        b = base.rstrip("/")
        url = b if b.endswith("/v1/messages") else (b + "/messages" if b.endswith("/v1") else b + "/v1/messages")
        register_url(url)  # once per URL: the secrets registry only grows (lllm.secrets)
        _urls[base] = url
    return url


def request_headers(api_key: str, version: str, extra: Optional[Dict[str, Any]]) -> Dict[str, str]:
    """Request headers (cached per key, version and extra headers). They hold the key: never record them."""
    ck = (api_key, version, tuple(sorted(extra.items())) if extra else None)
    h = _headers.get(ck)
    if h is None:
        h = {"Content-Type": "application/json", "x-api-key": api_key, "anthropic-version": version}
        if extra:
            h.update({str(k): str(v) for k, v in extra.items()})
        register_headers(h)  # once per header set, as above
        if len(_headers) > 256:
            _headers.clear()
        _headers[ck] = h
    return h


def _tool_call_id(m: "Message") -> str:
    tcid: Optional[str] = m.metadata.get("tool_call_id")
    if not tcid:
        raise ValueError(
            f"Tool message from '{m.name}' has no metadata['tool_call_id'], so its result cannot be "
            f"matched to a tool_use block (content: {str(m.content)[:80]!r})."
        )
    return tcid


def _split_data_url(url: str) -> Tuple[Optional[str], str]:
    head, _, data = url.partition(",")
    mime = head[5:].split(";", 1)[0] or None
    return mime, data


def _image_block(data: str, mime: Optional[str]) -> Dict[str, Any]:
    if data.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": data}}
    if data.startswith("data:"):
        url_mime, data = _split_data_url(data)
        mime = mime or url_mime
    if not mime:
        from lllm.core.images import sniff_image_mime

        mime = sniff_image_mime(base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4))) or "image/png"
    return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}


def _part_blocks(parts: List[Any]) -> List[Dict[str, Any]]:
    """OpenAI-style content parts (text / image_url) → Anthropic blocks; Anthropic blocks pass through."""
    out: List[Dict[str, Any]] = []
    for p in parts:
        if not isinstance(p, dict):
            continue
        t = p.get("type")
        if t == "text":
            if p.get("text"):
                out.append({"type": "text", "text": p["text"]})
        elif t == "image_url":
            iu = p.get("image_url")
            out.append(_image_block(iu.get("url", "") if isinstance(iu, dict) else str(iu or ""), None))
        else:
            out.append(p)
    return out


def _content_blocks(m: "Message") -> List[Dict[str, Any]]:
    if m.modality is Modalities.IMAGE and isinstance(m.content, str):
        caption = m.metadata.get("caption")
        blocks: List[Dict[str, Any]] = [{"type": "text", "text": caption}] if caption else []
        blocks.append(_image_block(m.content, m.metadata.get("mime_type")))
        return blocks
    if isinstance(m.content, str):
        return [{"type": "text", "text": m.content}] if m.content else []
    return _part_blocks(m.content)


def anthropic_messages(messages: Iterable["Message"]) -> Tuple[Optional[str], List[Dict[str, Any]], Set[str]]:
    """Dialog messages → ``(system, messages, names of tools used in the history)``.

    System messages become the top-level ``system``; tool calls become assistant ``tool_use``
    blocks (after the turn's replayed thinking blocks); tool results become user ``tool_result``
    blocks; consecutive turns of one role are merged, as Anthropic requires strict alternation."""
    system: List[str] = []
    out: List[Dict[str, Any]] = []
    used: Set[str] = set()
    for m in messages:
        role = m.role
        if role is Roles.SYSTEM:
            if m.text:
                system.append(m.text)
            continue
        if role is Roles.TOOL:
            c = m.content
            block: Dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": _tool_call_id(m),
                "content": c if isinstance(c, str) else _part_blocks(c),
            }
            if m.metadata.get("is_error"):
                block["is_error"] = True
            wire, blocks = "user", [block]
        elif role is Roles.ASSISTANT or role is Roles.TOOL_CALL or m.function_calls:
            wire = "assistant"
            thinking = m.metadata.get(THINKING_KEY)
            blocks = [b for b in thinking if isinstance(b, dict)] if thinking else []
            if m.function_calls:
                used.update(fc.name for fc in m.function_calls)
                rest: List[Dict[str, Any]] = [{"type": "text", "text": m.text}] if m.text else []
                rest += [
                    {"type": "tool_use", "id": fc.id, "name": fc.name, "input": fc.arguments} for fc in m.function_calls
                ]
            else:
                rest = _content_blocks(m)
            blocks = _in_order(m.metadata.get(ORDER_KEY), blocks, rest) or blocks + rest
        else:
            wire, blocks = "user", _content_blocks(m)
        if not blocks:
            continue
        if out and out[-1]["role"] == wire:
            prev = out[-1]["content"]
            if wire == "user" and blocks[0]["type"] == "tool_result" and prev[-1].get("type") != "tool_result":
                # tool results must lead their user turn
                n = sum(1 for b in prev if b.get("type") == "tool_result")
                prev[n:n] = blocks
            else:
                prev.extend(blocks)
        else:
            out.append({"role": wire, "content": blocks})
    return ("\n\n".join(system) if system else None), out, used


def _in_order(order: Any, thinking: List[Dict[str, Any]], rest: List[Dict[str, Any]]) -> Optional[List[Dict[str, Any]]]:
    """A turn's blocks in the order the model gave them (``ORDER_KEY``): its thinking blocks at their places
    among its text and tool calls. ``None`` when there is no order, or the turn no longer matches it (edited)."""
    if not isinstance(order, list) or order.count("thinking") != len(thinking):
        return None
    texts = [b for b in rest if b.get("type") != "tool_use"]
    calls = [b for b in rest if b.get("type") == "tool_use"]
    if order.count("tool_use") != len(calls) or ("text" in order) != bool(texts):
        return None
    it_thinking, it_calls = iter(thinking), iter(calls)
    out: List[Dict[str, Any]] = []
    for kind in order:
        if kind == "thinking":
            out.append(next(it_thinking))
        elif kind == "tool_use":
            out.append(next(it_calls))
        elif kind == "text" and texts:
            out.extend(texts)  # the turn's text was joined into one: it goes where its first block was
            texts = []
    return out


def anthropic_tool(f: "Function") -> Dict[str, Any]:
    """``Function.to_tool()`` (OpenAI shape) → an Anthropic tool ``{name, description, input_schema}``."""
    t = f.to_tool()
    fn = t.get("function") if t.get("type") == "function" else None
    if fn is None:
        return t
    return {
        "name": fn["name"],
        "description": fn.get("description") or "",
        "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
    }


def output_format(prompt: Optional["Prompt"]) -> Optional[Dict[str, Any]]:
    """``prompt.format`` as ``output_config.format`` (the strict schema form when it exists)."""
    if prompt is None or getattr(prompt, "format", None) is None:
        return None
    fs = prompt.format_schema(strict=True) or prompt.format_schema()
    return {"type": "json_schema", "schema": fs[1]} if fs else None


def _tool_choice(tc: Any) -> Optional[Dict[str, Any]]:
    """An OpenAI-style ``tool_choice`` → Anthropic's (dicts already in Anthropic form pass through)."""
    if tc is None:
        return None
    if isinstance(tc, str):
        return {"type": {"required": "any"}.get(tc, tc)}
    if isinstance(tc, dict) and tc.get("type") == "function":
        return {"type": "tool", "name": (tc.get("function") or {}).get("name") or tc.get("name")}
    return dict(tc)


def anthropic_skills(skills: Any) -> List[Dict[str, Any]]:
    """``model_args['skills']`` (``[{id}]``, §3.4) → ``container.skills`` entries."""
    out = []
    for s in skills or ():
        sid = s if isinstance(s, str) else (s.get("skill_id") or s.get("id"))
        if not sid:
            continue
        kind = (
            s.get("type")
            if isinstance(s, dict) and s.get("type")
            else ("custom" if str(sid).startswith("skill_") else "anthropic")
        )
        out.append(
            {"type": kind, "skill_id": sid, "version": (s.get("version") if isinstance(s, dict) else None) or "latest"}
        )
    return out


def build_body(
    dialog_messages: Iterable["Message"],
    wire_model: str,
    tools: List[Dict[str, Any]],
    prompt: Optional["Prompt"],
    args: Dict[str, Any],
    stream: bool,
) -> Dict[str, Any]:
    """The Messages API body; ``args`` are the caller's model_args (transport keys are ignored here)."""
    system, messages, used = anthropic_messages(dialog_messages)
    body: Dict[str, Any] = {"model": wire_model}
    for k, v in args.items():
        if k not in CLIENT_ARGS and k not in DROPPED_ARGS:
            body[k] = v
    effort = args.get("reasoning_effort")
    if "thinking" not in body and effort in EFFORT_BUDGETS:
        body["thinking"] = {"type": "enabled", "budget_tokens": EFFORT_BUDGETS[effort]}
    if "max_tokens" not in body:  # required by Anthropic; it must exceed a thinking budget
        mct = args.get("max_completion_tokens")
        budget = (body.get("thinking") or {}).get("budget_tokens") or 0
        body["max_tokens"] = (
            mct
            if mct is not None
            else (DEFAULT_MAX_TOKENS if budget < DEFAULT_MAX_TOKENS else budget + DEFAULT_MAX_TOKENS)
        )
    stop = args.get("stop")
    if stop is not None and "stop_sequences" not in body:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if args.get("user") and "metadata" not in body:
        body["metadata"] = {"user_id": str(args["user"])}
    if args.get("skills"):
        container = dict(body.get("container") or {})
        container["skills"] = [*container.get("skills", ()), *anthropic_skills(args["skills"])]
        body["container"] = container
    if system is not None:
        body["system"] = system
    body["messages"] = messages
    choice = _tool_choice(args.get("tool_choice"))
    if tools:
        body["tools"] = tools
        if args.get("parallel_tool_calls") is False:
            choice = dict(choice or {"type": "auto"}, disable_parallel_tool_use=True)
        if choice is not None:
            body["tool_choice"] = choice
    elif used:
        # Anthropic rejects tool_use/tool_result blocks in a request without tools: declare the
        # tools the history used and forbid calling them (the agent loop's "no more tools" turn)
        body["tools"] = [
            {"name": n, "description": "", "input_schema": {"type": "object", "properties": {}}} for n in sorted(used)
        ]
        body["tool_choice"] = {"type": "none"}
    fmt = output_format(prompt)
    if fmt is not None:
        body["output_config"] = dict(body.get("output_config") or {}, format=fmt)
    extra = args.get("extra_body")
    if extra:
        body.update(extra)
    body["stream"] = stream
    return body


# ---------------------------------------------------------------------------------------------
# The invoker
# ---------------------------------------------------------------------------------------------


class AnthropicInvoker(ProviderInvoker):
    """Anthropic Messages API over the pooled HTTP client (``lllm.invokers.http``).

    ``api_key``/``api_base`` come from model_args, else the invoker config, else ``ANTHROPIC_API_KEY``
    and ``ANTHROPIC_BASE_URL``/``ANTHROPIC_API_BASE`` (read at call time)."""

    name = "anthropic"

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
        if api_type == APITypes.RESPONSE:
            raise ConfigError(
                f"api_type='response' is OpenAI's Responses API; Anthropic model '{model}' takes "
                f"api_type='completion' (the Messages API)."
            )
        args = model_args
        cfg = self.config
        register_settings(args)  # scrubbed by value (lllm.secrets); the config was, when set
        wire_model = model[10:] if model.startswith("anthropic/") else model
        api_key = args.get("api_key") or cfg.get("api_key") or os.environ.get(KEY_ENV)
        if not api_key:
            raise ProviderError(
                f"No API key for provider 'anthropic': set the environment variable {KEY_ENV} "
                f"or pass model_args['api_key'].",
                provider=PROVIDER,
            )
        base = (
            args.get("api_base")
            or args.get("base_url")
            or cfg.get("api_base")
            or os.environ.get(BASE_ENV[0])
            or os.environ.get(BASE_ENV[1])
            or DEFAULT_API_BASE
        )
        url = messages_url(base)
        headers = request_headers(
            api_key,
            args.get("anthropic_version") or ANTHROPIC_VERSION,
            args.get("extra_headers") or cfg.get("extra_headers"),
        )
        tools = [anthropic_tool(f) for f in effective_functions(dialog, functions)]
        body = build_body(dialog.messages, wire_model, tools, prompt, args, stream)
        sent_args = {k: v for k, v in body.items() if k not in ("model", "messages", "tools", "system")}
        return PreparedRequest(
            PROVIDER,
            wire_model,
            body,
            request_record(PROVIDER, strip_userinfo(url), wire_model, body, api_type, stream),
            sent_args,
            stream,
            False,
            url,
            headers,
            args.get("timeout"),
        )

    async def send_request(self, req: PreparedRequest) -> Tuple[ModelOutput, Any]:
        _, _, raw = await http.post_json(req.url, req.headers, req.body, req.timeout, provider=PROVIDER)
        return parse_message(http.json_object(raw, PROVIDER)), raw

    async def stream_request(
        self, req: PreparedRequest, handler: Optional["BaseStreamHandler"]
    ) -> Tuple[ModelOutput, Any]:
        events: List[Dict[str, Any]] = []
        asm = StreamAssembler(handler)
        try:
            async for _, data in http.post_sse(
                req.url,
                req.headers,
                req.body,
                req.timeout,
                provider=PROVIDER,
                terminal_events=("message_stop", "error"),
            ):
                events.append(data)
                asm.feed(http.json_object(data, PROVIDER))
        finally:
            emit_done(handler)
        if not asm.done:  # pragma: no cover - post_sse raises on a stream without its terminal event
            raise ProviderError("anthropic stream ended before message_stop", kind="transient", provider=PROVIDER)
        return parse_message(asm.result()), events

    def context_window(self, model: str) -> Optional[int]:
        """From the genai-prices table (``lllm.invokers.context_windows``); ``None`` for a non-Claude name."""
        return context_window(model[10:] if model.startswith("anthropic/") else model, PROVIDER)

    async def aclose(self) -> None:
        await http.aclose_session()


__all__ = [
    "AnthropicInvoker",
    "anthropic_messages",
    "anthropic_tool",
    "anthropic_usage",
    "build_body",
    "parse_message",
    "output_format",
    "anthropic_skills",
    "StreamAssembler",
    "messages_url",
    "THINKING_KEY",
    "ORDER_KEY",
    "block_order",
]
