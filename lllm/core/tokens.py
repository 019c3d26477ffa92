"""Offline token estimates for context management: about four characters a token, plus overheads.

Deliberately tokenizer-free: estimates are fast, deterministic across machines (so recorded sessions
replay identically) and never touch the network. Providers report exact usage after the call."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable

from lllm.core.const import Modalities

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.message import Message

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4  # role, name and separators of one chat message
IMAGE_TOKENS = 765  # one high-detail 1024x1024 image, a conservative flat estimate
REPLY_PRIMING = 3  # tokens the provider adds to prime the reply


def estimate_tokens(text: Any) -> int:
    """Tokens in ``text`` (non-strings are ``str()``-ed): ceil(len / 4)."""
    if not text:
        return 0
    if not isinstance(text, str):
        text = str(text)
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return estimate_tokens(content)
    total = 0
    for part in content or ():
        if not isinstance(part, dict):
            total += estimate_tokens(part)
        elif part.get("type") in ("image_url", "image", "input_image"):
            total += IMAGE_TOKENS
        else:
            total += estimate_tokens(part.get("text", ""))
    return total


def estimate_message_tokens(message: "Message") -> int:
    """Tokens one message costs in a request: content (or a flat image cost), name, tool calls, overhead."""
    if message.modality == Modalities.IMAGE:
        body = IMAGE_TOKENS + estimate_tokens((message.metadata or {}).get("caption") or "")
    else:
        body = _content_tokens(message.content)
    for call in message.function_calls:
        body += estimate_tokens(call.name) + estimate_tokens(json.dumps(call.arguments, default=str)) + 3
    if message.name:
        body += 1
    return body + MESSAGE_OVERHEAD


def estimate_messages_tokens(messages: Iterable["Message"]) -> int:
    """Tokens a request with ``messages`` costs (0 for none)."""
    total = sum(estimate_message_tokens(m) for m in messages)
    return total + REPLY_PRIMING if total else 0


__all__ = [
    "estimate_tokens",
    "estimate_message_tokens",
    "estimate_messages_tokens",
    "CHARS_PER_TOKEN",
    "MESSAGE_OVERHEAD",
    "IMAGE_TOKENS",
]
