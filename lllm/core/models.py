"""The prompt-layer names under the path lllm-core 0.1.x's prompt docs use (``lllm.core.models``)."""

from __future__ import annotations

from lllm.lazy import lazy_exports

_NAMES = {
    "Prompt": "lllm.core.prompt",
    "BaseRenderer": "lllm.core.prompt",
    "BaseHandler": "lllm.core.prompt",
    "DefaultSimpleHandler": "lllm.core.prompt",
    "StringFormatterRenderer": "lllm.core.prompt",
    "BaseParser": "lllm.core.parsers",
    "DefaultTagParser": "lllm.core.parsers",
    "Function": "lllm.core.tools",
    "tool": "lllm.core.tools",
    "MCP": "lllm.core.tools",
    "register_prompt": "lllm.compat",
    "AgentCallSession": "lllm.core.sessions",
    "AgentCallState": "lllm.core.sessions:AgentCallSession",
}
__getattr__ = lazy_exports(__name__, _NAMES)
__all__ = sorted(_NAMES)
