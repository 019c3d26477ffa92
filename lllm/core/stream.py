"""Streaming callbacks: only text streams; the final InvokeResult is the same as without streaming."""

from __future__ import annotations

import logging
from typing import Any, Optional

logger = logging.getLogger("lllm.invoker")


class BaseStreamHandler:
    """Receives text deltas as they arrive. Override ``on_token`` (or ``handle_chunk`` for the raw event)."""

    def handle_chunk(self, text: str, raw: Any = None) -> None:
        """One text delta and the provider's raw event; calls ``on_token`` by default."""
        self.on_token(text)

    def on_token(self, text: str) -> None:
        """One text delta."""

    def on_done(self) -> None:
        """The invocation's stream ended (called once per invocation)."""


class PrintStreamHandler(BaseStreamHandler):
    """Prints tokens to stdout as they arrive."""

    def on_token(self, text: str) -> None:
        print(text, end="", flush=True)

    def on_done(self) -> None:
        print(flush=True)


def emit_chunk(handler: Optional[BaseStreamHandler], text: str, raw: Any = None) -> None:
    """Deliver one delta; a handler's exception is logged, never fatal."""
    if handler is None or not text:
        return
    try:
        handler.handle_chunk(text, raw)
    except Exception:  # noqa: BLE001 - user callback
        logger.exception("stream handler %r raised in handle_chunk; continuing", handler)


def emit_done(handler: Optional[BaseStreamHandler]) -> None:
    if handler is None:
        return
    try:
        handler.on_done()
    except Exception:  # noqa: BLE001 - user callback
        logger.exception("stream handler %r raised in on_done; continuing", handler)


__all__ = ["BaseStreamHandler", "PrintStreamHandler", "emit_chunk", "emit_done"]
