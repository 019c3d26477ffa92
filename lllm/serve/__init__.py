"""Serving tactics: ``lllm serve`` (HTTP on aiohttp, server-sent events, batch jobs, MCP) and
``RemoteTactic``, a served tactic called like a local one. Names are imported on first use."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "create_app": "app",
    "serve": "app",
    "Limits": "app",
    "check_bind": "app",
    "ServedTactic": "tactics",
    "ServeError": "tactics",
    "openapi": "tactics",
    "RemoteTactic": "client",
    "RemoteCall": "client",
    "model_from_schema": "client",
    "Metrics": "metrics",
}

__all__ = [
    "Limits",
    "Metrics",
    "RemoteCall",
    "RemoteTactic",
    "ServeError",
    "ServedTactic",
    "check_bind",
    "create_app",
    "model_from_schema",
    "openapi",
    "serve",
]

if TYPE_CHECKING:  # pragma: no cover - lets type checkers see the lazily imported names (`X as X`: a re-export)
    from lllm.serve.app import Limits as Limits, check_bind as check_bind, create_app as create_app, serve as serve
    from lllm.serve.client import (
        RemoteCall as RemoteCall,
        RemoteTactic as RemoteTactic,
        model_from_schema as model_from_schema,
    )
    from lllm.serve.metrics import Metrics as Metrics
    from lllm.serve.tactics import ServedTactic as ServedTactic, ServeError as ServeError, openapi as openapi


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lllm.serve' has no attribute {name!r}")
    return getattr(importlib.import_module(f"lllm.serve.{_EXPORTS[name]}"), name)
