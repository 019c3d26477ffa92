"""Ids and local time stamps: dialog ids, and session names in the 0.1.x format."""

from __future__ import annotations

import os
import secrets
import time
from typing import Optional, Tuple


def new_id() -> str:
    """A random UUID4 as 32 hex digits (``uuid.uuid4().hex`` without building the UUID object)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    return b.hex()


_stamp: Tuple[int, str] = (-1, "")


def local_stamp(at: Optional[float] = None) -> str:
    """``YYYYMMDD_HHMMSS`` in local time, of now or of the epoch time ``at`` (formatted once per second)."""
    global _stamp
    second = int(time.time() if at is None else at)
    cached = _stamp
    if cached[0] != second:
        cached = _stamp = (second, time.strftime("%Y%m%d_%H%M%S", time.localtime(second)))
    return cached[1]


def new_session_name(at: Optional[float] = None) -> str:
    """``YYYYMMDD_HHMMSS_<6hex>`` in local time (the 0.1.x format), of now or of the epoch time ``at``."""
    return f"{local_stamp(at)}_{secrets.token_hex(3)}"


__all__ = ["new_id", "local_stamp", "new_session_name"]
