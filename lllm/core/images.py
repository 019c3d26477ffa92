"""Image inputs (§3.4): read a path, PIL image, bytes or base64 string and detect its true MIME type."""

from __future__ import annotations

import base64
import binascii
import io
import os
import sys
from pathlib import Path
from typing import Any, Optional, Tuple

IMAGE_MIME_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_PIL_SAVE_FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}


def sniff_image_mime(data: bytes) -> Optional[str]:
    """The MIME type of PNG, JPEG, GIF or WebP ``data`` from its magic bytes, else ``None``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _is_pil_image(obj: Any) -> bool:
    pil = sys.modules.get("PIL.Image")  # a PIL image cannot exist unless PIL is already imported
    return pil is not None and isinstance(obj, pil.Image)


def _pil_bytes(image: Any) -> bytes:
    fmt = image.format if image.format in _PIL_SAVE_FORMATS else "PNG"
    buf = io.BytesIO()
    try:
        image.save(buf, format=fmt)
    except (OSError, ValueError, KeyError):
        buf = io.BytesIO()
        image.convert("RGBA").save(buf, format="PNG")
    return buf.getvalue()


def _read_image_file(path: Path) -> bytes:
    if not path.is_file():
        raise ValueError(f"put_image: no image file at '{path}'")
    return path.read_bytes()


def _string_image_bytes(text: str) -> bytes:
    s = text.strip()
    if s.startswith("data:") and "base64," in s:
        s = s.split("base64,", 1)[1]
    elif len(s) < 4096:
        try:
            if Path(s).is_file():
                return Path(s).read_bytes()
        except (OSError, ValueError):
            pass
    try:
        return base64.b64decode("".join(s.split()), validate=True)
    except (binascii.Error, ValueError):
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise ValueError(
            f"put_image: the string {shown!r} is neither an existing file path nor valid base64 image data"
        ) from None


def load_image(image: Any) -> Tuple[bytes, str]:
    """``(bytes, mime_type)`` of a path, PIL image, bytes or base64 string; ``ValueError`` otherwise."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    elif isinstance(image, str):
        data = _string_image_bytes(image)
    elif isinstance(image, os.PathLike):
        data = _read_image_file(Path(image))
    elif _is_pil_image(image):
        data = _pil_bytes(image)
    else:
        raise ValueError(
            f"put_image: unsupported image type {type(image).__name__}; pass a file path, "
            f"a PIL image, bytes or a base64 string"
        )
    mime = sniff_image_mime(data)
    if mime is None:
        raise ValueError(
            f"put_image: unsupported image data (starts with {data[:8]!r}); only PNG, JPEG, GIF and WebP are accepted"
        )
    return data, mime


__all__ = ["IMAGE_MIME_TYPES", "sniff_image_mime", "load_image"]
