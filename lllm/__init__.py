"""LLLM: build LLM agentic systems like ordinary software.

Four layers: Tactic (the program) → Agent (the caller) → Prompt (the function) → Dialog (the state).
Public names are imported lazily on first use, so ``import lllm`` stays cheap."""
from __future__ import annotations

import importlib
import logging as _logging
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# A library adds only a NullHandler; applications configure output (see lllm.setup_logging).
_logging.getLogger("lllm").addHandler(_logging.NullHandler())

_EXPORTS = {
    # errors
    "LLLMError": "lllm.errors", "ParseError": "lllm.errors", "AgentException": "lllm.errors",
    "AgentCallError": "lllm.errors", "ConfigError": "lllm.errors", "ResourceNotFoundError": "lllm.errors",
    "ToolBindingError": "lllm.errors", "PackageError": "lllm.errors", "ProxyError": "lllm.errors",
    "ProviderError": "lllm.errors",
    # values
    "Roles": "lllm.core.const", "Modalities": "lllm.core.const", "APITypes": "lllm.core.const",
    "Message": "lllm.core.message", "FunctionCall": "lllm.core.message", "InvokeCost": "lllm.core.message",
    "TokenLogprob": "lllm.core.message",
    # dialog
    "Dialog": "lllm.core.dialog", "DialogTreeNode": "lllm.core.dialog",
    "ContextManager": "lllm.core.context", "DefaultContextManager": "lllm.core.context",
    # prompt
    "Prompt": "lllm.core.prompt", "Function": "lllm.core.tools", "tool": "lllm.core.tools", "MCP": "lllm.core.tools",
    "BaseParser": "lllm.core.parsers", "DefaultTagParser": "lllm.core.parsers",
    "BaseRenderer": "lllm.core.prompt", "StringFormatterRenderer": "lllm.core.prompt",
    "BaseHandler": "lllm.core.prompt", "DefaultSimpleHandler": "lllm.core.prompt", "DefaultHandler": "lllm.core.prompt",
    # agent and tactic
    "Agent": "lllm.core.agent", "AgentCallSession": "lllm.core.sessions", "InvokeTrace": "lllm.core.sessions",
    "Tactic": "lllm.core.tactic", "TacticCallSession": "lllm.core.sessions", "build_tactic": "lllm.core.tactic",
    "register_tactic_class": "lllm.core.tactic",
    "BaseStreamHandler": "lllm.core.stream", "PrintStreamHandler": "lllm.core.stream",
    # configuration and runtime
    "AgentSpec": "lllm.core.config", "parse_agent_configs": "lllm.core.config", "deep_merge": "lllm.core.config",
    "Runtime": "lllm.core.runtime", "get_default_runtime": "lllm.core.runtime",
    "set_default_runtime": "lllm.core.runtime", "get_runtime": "lllm.core.runtime",
    "ResourceNode": "lllm.core.resource", "PackageInfo": "lllm.core.resource",
    # invokers
    "BaseInvoker": "lllm.invokers.base", "InvokeResult": "lllm.invokers.base", "build_invoker": "lllm.invokers.base",
    "register_invoker": "lllm.invokers.base",
    # logging
    "setup_logging": "lllm.logging",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from lllm.core.agent import Agent
    from lllm.core.config import AgentSpec, deep_merge, parse_agent_configs
    from lllm.core.const import APITypes, Modalities, Roles
    from lllm.core.context import ContextManager, DefaultContextManager
    from lllm.core.dialog import Dialog, DialogTreeNode
    from lllm.core.message import FunctionCall, InvokeCost, Message, TokenLogprob
    from lllm.core.parsers import BaseParser, DefaultTagParser
    from lllm.core.prompt import (BaseHandler, BaseRenderer, DefaultHandler, DefaultSimpleHandler, Prompt,
                                  StringFormatterRenderer)
    from lllm.core.resource import PackageInfo, ResourceNode
    from lllm.core.runtime import Runtime, get_default_runtime, get_runtime, set_default_runtime
    from lllm.core.sessions import AgentCallSession, InvokeTrace, TacticCallSession
    from lllm.core.stream import BaseStreamHandler, PrintStreamHandler
    from lllm.core.tactic import Tactic, build_tactic, register_tactic_class
    from lllm.core.tools import MCP, Function, tool
    from lllm.errors import (AgentCallError, AgentException, ConfigError, LLLMError, PackageError, ParseError,
                             ProviderError, ProxyError, ResourceNotFoundError, ToolBindingError)
    from lllm.invokers.base import BaseInvoker, InvokeResult, build_invoker, register_invoker
    from lllm.logging import setup_logging


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lllm' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return __all__
