"""Store filters as the CLI, ``lllm ui`` and ``lllm eval`` read them from their ``--tactic`` text."""

from __future__ import annotations

from typing import Dict, Optional


def tactic_filter(text: Optional[str]) -> Dict[str, str]:
    """``--tactic`` as store filters: ``pkg::name`` and URLs (``pkg.tactics:name``, ``pkg:name``) become a
    ``tactic_path``; a bare ``name`` matches the tactic name in any package (``tactic_name``)."""
    if not text:
        return {}
    if "::" in text:
        return {"tactic_path": text}
    head, sep, key = text.rpartition(":")
    if sep:
        return {"tactic_path": f"{head.partition('.')[0]}::{key}"}
    return {"tactic_name": text}


__all__ = ["tactic_filter"]
