"""Incremental Server-Sent Events decoding for streamed provider responses.

``SSEDecoder`` turns byte chunks (split anywhere, LF / CRLF / CR line endings) into
``(event, data)`` pairs; ``aiter_sse`` drives it over an aiohttp response (or any async
iterable of bytes), parses each ``data`` as JSON, stops at ``[DONE]`` or a terminal event,
and raises a transient ``lllm.errors.ProviderError`` when the stream is cut short or
carries data that is not JSON, so the agent loop can retry the call."""

from __future__ import annotations

import json
import time
from typing import Any, AsyncIterable, AsyncIterator, Callable, Iterable, List, Optional, Tuple, Union

from lllm.errors import ProviderError

_DONE = b"[DONE]"
_BOM = b"\xef\xbb\xbf"


class SSEDecoder:
    """Feed bytes, get complete events. Comments (``: ping``), ``id:`` and ``retry:`` are ignored."""

    __slots__ = ("_buf", "_event", "_data", "_started")

    def __init__(self) -> None:
        self._buf = b""
        self._event: Optional[str] = None
        self._data: List[bytes] = []
        self._started = False

    def feed(self, chunk: bytes) -> List[Tuple[str, bytes]]:
        """Decode ``chunk``; returns the events it completed as ``(event, data_bytes)``."""
        buf = self._buf + chunk if self._buf else chunk
        if not self._started and buf:
            if len(buf) < 3 and _BOM.startswith(buf):  # maybe a UTF-8 BOM split across chunks
                self._buf = buf
                return []
            self._started = True
            if buf.startswith(_BOM):
                buf = buf[3:]
        end = buf.rfind(b"\n")
        cr = buf.rfind(b"\r")
        if cr > end and cr != len(buf) - 1:  # a lone CR ending that cannot be half of a CRLF
            end = cr
        if end < 0:
            self._buf = buf
            return []
        complete, self._buf = buf[: end + 1], buf[end + 1 :]
        return self._lines(complete.splitlines())

    def flush(self) -> List[Tuple[str, bytes]]:
        """End of input: decode a held-back last line. An event without its closing blank
        line is not dispatched (per the SSE spec); ``pending`` tells whether one was left."""
        buf, self._buf = self._buf, b""
        return self._lines(buf.splitlines()) if buf else []

    @property
    def pending(self) -> bool:
        """True if a partial line or an undispatched event is buffered."""
        return bool(self._buf.strip()) or bool(self._data) or self._event is not None

    def _lines(self, lines: Iterable[bytes]) -> List[Tuple[str, bytes]]:
        out: List[Tuple[str, bytes]] = []
        for line in lines:
            if not line:
                if self._data:
                    out.append((self._event or "message", b"\n".join(self._data)))
                self._event, self._data = None, []
                continue
            if line[0] == 58:  # ":" comment / keep-alive
                continue
            field, sep, value = line.partition(b":")
            if sep and value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                self._data.append(value)
            elif field == b"event":
                self._event = value.decode("utf-8", "replace")
            # "id", "retry" and unknown fields are ignored
        return out


def _source(resp: Any) -> AsyncIterable[bytes]:
    content = getattr(resp, "content", None)  # aiohttp.ClientResponse -> StreamReader
    source: AsyncIterable[bytes]
    if content is not None and hasattr(content, "iter_any"):
        source = content.iter_any()
    elif hasattr(resp, "iter_any"):  # a StreamReader itself
        source = resp.iter_any()
    else:
        source = resp
    return source


async def aiter_sse(
    resp: Any,
    *,
    provider: str = "",
    terminal_events: Tuple[str, ...] = (),
    require_end: Union[bool, Callable[[], bool]] = True,
    idle_s: Optional[float] = None,
) -> AsyncIterator[Tuple[str, Any]]:
    """Yield ``(event, json_data)`` from an SSE body until ``data: [DONE]`` or a ``terminal_events``
    event (which is yielded). Without either, a stream that ends is "cut" (transient error)
    unless ``require_end`` is false (or a callable, asked at the end, answers false: e.g. "no
    chunk carried a finish_reason"); a partial trailing event is always "cut". With ``idle_s``, a
    stream that sends only keep-alives (comments, ``ping`` events) for longer is "stalled" (transient)."""
    dec = SSEDecoder()
    label = provider or "provider"
    last = time.monotonic()
    try:
        async for chunk in _source(resp):
            events = dec.feed(chunk)
            if idle_s is not None:
                now = time.monotonic()
                if any(event != "ping" for event, _ in events):
                    last = now
                elif now - last > idle_s:
                    raise _stalled(label, idle_s, provider)
            for event, data in events:
                if data == _DONE:
                    return
                yield event, _loads(data, label, event, provider)
                if event in terminal_events:
                    return
    except ProviderError:
        raise
    except Exception as e:  # connection reset / payload error / timeout while reading the body
        raise ProviderError(
            f"{label} stream was cut while reading: {type(e).__name__}: {e}", kind="transient", provider=provider
        ) from e
    for event, data in dec.flush():  # a last line held back (e.g. a trailing CR)
        if data == _DONE:
            return
        yield event, _loads(data, label, event, provider)
        if event in terminal_events:
            return
    if dec.pending:
        raise ProviderError(
            f"{label} stream was cut mid-event (connection closed before the event ended)",
            kind="transient",
            provider=provider,
        )
    if require_end() if callable(require_end) else require_end:
        ends = "'data: [DONE]'" + (f" or a {'/'.join(terminal_events)} event" if terminal_events else "")
        raise ProviderError(f"{label} stream was cut: it ended without {ends}", kind="transient", provider=provider)


def _stalled(label: str, idle_s: float, provider: str) -> ProviderError:
    return ProviderError(
        f"{label} stream stalled: only keep-alives, no data, for over {idle_s:g} s (the read timeout); the call "
        f"is retried. If the model legitimately thinks this long before answering, raise model_args['timeout']",
        kind="transient",
        provider=provider,
    )


def _loads(data: bytes, label: str, event: str, provider: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as e:
        snippet = data[:200].decode("utf-8", "replace")
        raise ProviderError(
            f"{label} stream sent invalid (non-JSON) data in event '{event}': {snippet!r} ({e})",
            kind="transient",
            provider=provider,
        ) from e


__all__ = ["SSEDecoder", "aiter_sse"]
