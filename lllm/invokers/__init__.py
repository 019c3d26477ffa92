"""Invokers: one model call from a Dialog (§4). Provider modules are imported on first use,
so ``import lllm.invokers`` stays cheap (no aiohttp, no price table)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lllm.invokers.base import (
    BaseInvoker,
    InvokeResult,
    ModelOutput,
    PreparedRequest,
    ProviderInvoker,
    ToolCallOut,
    build_invoker,
    register_invoker,
    registered_invokers,
)

_LAZY = {
    "OpenAIInvoker": "lllm.invokers.openai",
    "AutoInvoker": "lllm.invokers.router",
    "route": "lllm.invokers.router",
    "AnthropicInvoker": "lllm.invokers.anthropic",
    "LiteLLMInvoker": "lllm.invokers.litellm",
    "InvokerBuilder": "lllm.compat",
}

if TYPE_CHECKING:  # pragma: no cover - lets type checkers see the lazily imported names (`X as X`: a re-export)
    from lllm.invokers.anthropic import AnthropicInvoker as AnthropicInvoker
    from lllm.invokers.litellm import LiteLLMInvoker as LiteLLMInvoker
    from lllm.invokers.openai import OpenAIInvoker as OpenAIInvoker
    from lllm.invokers.router import AutoInvoker as AutoInvoker, route as route


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'lllm.invokers' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


__all__ = [
    "BaseInvoker",
    "ProviderInvoker",
    "PreparedRequest",
    "InvokeResult",
    "ModelOutput",
    "ToolCallOut",
    "build_invoker",
    "register_invoker",
    "registered_invokers",
    "OpenAIInvoker",
    "AutoInvoker",
    "route",
]
