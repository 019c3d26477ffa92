"""The lllm-core 0.1.x text and file helpers that its documentation uses (``find_all_xml_tags_sorted`` …)."""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List

from lllm.core.parsers import fenced_blocks

_MISSING: Any = object()


def find_all_xml_tags_sorted(text: str) -> List[Dict[str, Any]]:
    """Every ``<tag>…</tag>`` block as ``{"tag", "pos", "content"}`` (content stripped), in text order."""
    return [
        {"tag": m.group(1), "pos": m.start(), "content": m.group(2).strip()}
        for m in re.finditer(r"<([A-Za-z0-9_]+)>(.*?)</\1>", text, re.DOTALL)
    ]


def find_xml_blocks(text: str, tag: str) -> List[str]:
    """The raw contents of every ``<tag>…</tag>`` block."""
    return re.findall(rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", text, re.DOTALL)


def find_md_blocks(text: str, tag: str) -> List[str]:
    """The stripped bodies of the fenced blocks whose info string starts with ``tag``."""
    return [body.strip() for info, body in fenced_blocks(text) if info.startswith(tag)]


def load_json(file: "str | os.PathLike[str]", default: Any = _MISSING) -> Any:
    """The JSON in ``file``; a missing file gives ``default`` ({} unless given; ``None`` raises)."""
    if not os.path.exists(file):
        if default is None:
            raise FileNotFoundError(f"File {file} not found")
        return {} if default is _MISSING else default
    with open(file, encoding="utf-8") as f:
        return json.load(f)


def save_json(file: "str | os.PathLike[str]", data: Any, indent: int = 4) -> None:
    """Write ``data`` to ``file`` as JSON."""
    with open(file, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=indent)


__all__ = ["find_all_xml_tags_sorted", "find_xml_blocks", "find_md_blocks", "load_json", "save_json"]
