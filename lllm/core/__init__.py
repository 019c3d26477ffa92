"""The core layers. The names 0.1.x's ``lllm.core`` exported stay importable here, loaded on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lllm.lazy import lazy_exports as _lazy_exports

_NAMES = {
    "Dialog": "lllm.core.dialog",
    "Message": "lllm.core.message",
    "Agent": "lllm.core.agent",
    "Tactic": "lllm.core.tactic",
    "build_tactic": "lllm.core.tactic",
    "register_tactic_class": "lllm.core.tactic",
    "ResourceNode": "lllm.packages.resource",
    "PackageInfo": "lllm.packages.resource",
    "load_prompt": "lllm.packages.runtime",
    "load_tactic": "lllm.packages.runtime",
    "load_proxy": "lllm.packages.runtime",
    "load_config": "lllm.packages.config",
    "load_resource": "lllm.packages.runtime",
    "resolve_config": "lllm.packages.config",
    "AgentSpec": "lllm.core.spec",
    "parse_agent_configs": "lllm.core.spec",
    "AgentException": "lllm.errors",
    "AgentCallSession": "lllm.core.sessions",
    "Function": "lllm.core.tools",
    "tool": "lllm.core.tools",
    "MCP": "lllm.core.tools",
    "FunctionCall": "lllm.core.message",
    "BaseParser": "lllm.core.parsers",
    "DefaultTagParser": "lllm.core.parsers",
    "BaseRenderer": "lllm.core.prompt",
    "StringFormatterRenderer": "lllm.core.prompt",
    "BaseHandler": "lllm.core.prompt",
    "DefaultSimpleHandler": "lllm.core.prompt",
    "Prompt": "lllm.core.prompt",
    "register_prompt": "lllm.compat",
}
if TYPE_CHECKING:  # pragma: no cover - lets type checkers see the lazily imported names (`X as X`: a re-export)
    from lllm.core.agent import Agent as Agent
    from lllm.core.dialog import Dialog as Dialog
    from lllm.core.message import FunctionCall as FunctionCall, Message as Message
    from lllm.core.parsers import BaseParser as BaseParser, DefaultTagParser as DefaultTagParser
    from lllm.core.prompt import (
        BaseHandler as BaseHandler,
        BaseRenderer as BaseRenderer,
        DefaultSimpleHandler as DefaultSimpleHandler,
        Prompt as Prompt,
        StringFormatterRenderer as StringFormatterRenderer,
    )
    from lllm.core.sessions import AgentCallSession as AgentCallSession
    from lllm.core.spec import AgentSpec as AgentSpec, parse_agent_configs as parse_agent_configs
    from lllm.core.tactic import (
        Tactic as Tactic,
        build_tactic as build_tactic,
        register_tactic_class as register_tactic_class,
    )
    from lllm.core.tools import MCP as MCP, Function as Function, tool as tool
    from lllm.errors import AgentException as AgentException

__getattr__ = _lazy_exports(__name__, _NAMES)
