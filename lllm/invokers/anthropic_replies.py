"""Anthropic Messages API replies: a ``message`` object or its SSE events → ``ModelOutput``.

Plain dict access; thinking blocks go to ``Message.metadata`` (``THINKING_KEY``, and ``ORDER_KEY`` when
interleaved) so the request side can replay them as given."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional

from lllm.core.stream import emit_chunk
from lllm.errors import ProviderError
from lllm.invokers.base import ModelOutput, ToolCallOut

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.stream import BaseStreamHandler

PROVIDER = "anthropic"
THINKING_KEY = "anthropic_thinking"  # Message.metadata key holding the raw thinking blocks of a turn
THINKING_TYPES = frozenset({"thinking", "redacted_thinking"})
# Message.metadata key: the turn's block kinds in order ("thinking", "text", "tool_use"), kept only when a
# thinking block follows another kind (interleaved thinking): replayed thinking must keep its place
ORDER_KEY = "anthropic_block_order"
ERROR_KINDS = {
    "rate_limit_error": "rate_limit",
    "overloaded_error": "transient",
    "api_error": "transient",
    "timeout_error": "transient",
}

_dumps_args = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def block_order(content: Iterable[Dict[str, Any]]) -> Optional[List[str]]:
    """The kinds of a response's blocks in order, when a thinking block follows another kind; else ``None``."""
    kinds = [
        "thinking" if t in THINKING_TYPES else "text" if t == "text" else "tool_use"
        for t in (b.get("type") for b in content)
        if t in THINKING_TYPES or t in ("text", "tool_use")
    ]
    first_other = next((i for i, k in enumerate(kinds) if k != "thinking"), len(kinds))
    return kinds if "thinking" in kinds[first_other:] else None


def anthropic_usage(u: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Anthropic usage → the normalised keys; cache reads and writes count as prompt tokens."""
    if not u:
        return {}
    inp = u.get("input_tokens") or 0
    read = u.get("cache_read_input_tokens") or 0
    write = u.get("cache_creation_input_tokens") or 0
    p, c = inp + read + write, u.get("output_tokens") or 0
    return {
        "prompt_tokens": p,
        "completion_tokens": c,
        "total_tokens": p + c,
        "cached_prompt_tokens": read,
        "cache_write_tokens": write,
    }


def error_event(data: Dict[str, Any]) -> ProviderError:
    """A ProviderError for an Anthropic error envelope received with a 200 (body or stream event)."""
    found = data.get("error")
    err: Dict[str, Any] = found if isinstance(found, dict) else {}
    etype = err.get("type") or ""
    msg = err.get("message") or json.dumps(data)[:300]
    return ProviderError(
        "anthropic API error" + (f" ({etype})" if etype else "") + f": {msg}",
        kind=ERROR_KINDS.get(etype),
        body=data,
        provider=PROVIDER,
    )


def parse_message(data: Dict[str, Any]) -> ModelOutput:
    """A Messages API ``message`` object → ModelOutput (thinking blocks go to metadata, not content)."""
    if data.get("type") == "error":
        raise error_event(data)
    texts: List[str] = []
    calls: List[ToolCallOut] = []
    thinking: List[Dict[str, Any]] = []
    for b in data.get("content") or ():
        t = b.get("type")
        if t == "text":
            texts.append(b.get("text") or "")
        elif t == "tool_use":
            inp = b.get("input")
            calls.append(
                ToolCallOut(
                    id=b.get("id") or "",
                    name=b.get("name") or "",
                    arguments=inp if isinstance(inp, str) else _dumps_args(inp if inp is not None else {}),
                )
            )
        elif t in THINKING_TYPES:
            thinking.append(b)
    out = ModelOutput(
        content="".join(texts),
        tool_calls=calls,
        usage=anthropic_usage(data.get("usage")),
        model=data.get("model"),
        finish_reason=data.get("stop_reason"),
    )
    if thinking:
        out.metadata[THINKING_KEY] = thinking
        order = block_order(data.get("content") or ())
        if order is not None:
            out.metadata[ORDER_KEY] = order
    if data.get("stop_sequence"):
        out.metadata["stop_sequence"] = data["stop_sequence"]
    return out


class StreamAssembler:
    """Rebuilds the final ``message`` object from Messages SSE events, emitting text deltas."""

    __slots__ = ("message", "blocks", "pieces", "handler", "done")

    def __init__(self, handler: Optional["BaseStreamHandler"]):
        self.message: Dict[str, Any] = {}
        self.blocks: Dict[int, Dict[str, Any]] = {}
        self.pieces: Dict[int, List[str]] = {}  # index -> text / thinking / partial JSON pieces
        self.handler = handler
        self.done = False

    def feed(self, data: Dict[str, Any]) -> None:
        t = data.get("type")
        if t == "content_block_delta":
            d = data.get("delta") or {}
            dt = d.get("type")
            idx = data.get("index", 0)
            if dt == "text_delta":
                piece = d.get("text") or ""
                self.pieces.setdefault(idx, []).append(piece)
                emit_chunk(self.handler, piece, data)
            elif dt == "input_json_delta":
                self.pieces.setdefault(idx, []).append(d.get("partial_json") or "")
            elif dt == "thinking_delta":
                self.pieces.setdefault(idx, []).append(d.get("thinking") or "")
            elif dt == "signature_delta":
                blk = self.blocks.get(idx)
                if blk is not None:
                    blk["signature"] = (blk.get("signature") or "") + (d.get("signature") or "")
            elif dt == "citations_delta":
                blk = self.blocks.get(idx)
                if blk is not None:
                    blk.setdefault("citations", []).append(d.get("citation"))
        elif t == "content_block_start":
            self.blocks[data.get("index", 0)] = dict(data.get("content_block") or {})
        elif t == "content_block_stop":
            self._close(data.get("index", 0))
        elif t == "message_start":
            self.message = dict(data.get("message") or {})
            self.message["usage"] = dict(self.message.get("usage") or {})
        elif t == "message_delta":
            self.message.update({k: v for k, v in (data.get("delta") or {}).items()})
            u = data.get("usage")
            if u:
                self.message.setdefault("usage", {}).update({k: v for k, v in u.items() if v is not None})
        elif t == "message_stop":
            self.done = True
        elif t == "error":
            raise error_event(data)

    def _close(self, idx: int) -> None:
        blk = self.blocks.get(idx)
        pieces = self.pieces.pop(idx, None)
        if blk is None or pieces is None:
            return
        bt = blk.get("type")
        if bt == "text":
            blk["text"] = (blk.get("text") or "") + "".join(pieces)
        elif bt == "thinking":
            blk["thinking"] = (blk.get("thinking") or "") + "".join(pieces)
        else:  # tool_use / server_tool_use: the input arrives as partial JSON
            raw = "".join(pieces)
            if raw.strip():
                try:
                    blk["input"] = json.loads(raw)
                except ValueError:
                    blk["input"] = raw  # malformed: finish_output reports it as invalid output
            elif blk.get("input") is None:
                blk["input"] = {}

    def result(self) -> Dict[str, Any]:
        for idx in list(self.pieces):  # blocks the stream never closed
            self._close(idx)
        msg = self.message
        msg["content"] = [self.blocks[i] for i in sorted(self.blocks)]
        return msg


__all__ = [
    "PROVIDER",
    "THINKING_KEY",
    "THINKING_TYPES",
    "ORDER_KEY",
    "ERROR_KINDS",
    "block_order",
    "anthropic_usage",
    "error_event",
    "parse_message",
    "StreamAssembler",
]
