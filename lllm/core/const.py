"""Value enums shared by every layer: message roles, modalities and API types."""

from __future__ import annotations

from enum import Enum


class Roles(str, Enum):
    """Who a message is from. ``msg_value`` is what the wire protocols call it."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"
    TOOL_CALL = "tool_call"

    @property
    def msg_value(self) -> str:
        return "developer" if self is Roles.SYSTEM else self.value


class Modalities(str, Enum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    FUNCTION_CALL = "function_call"


class APITypes(str, Enum):
    """``completion``: Chat Completions / Messages; ``response``: OpenAI Responses API."""

    COMPLETION = "completion"
    RESPONSE = "response"


class Invokers(str, Enum):
    """Invoker names accepted by the ``invoker:`` config key (0.1.x had only ``litellm``)."""

    LITELLM = "litellm"
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    AUTO = "auto"
    TEST = "test"


LLM_SIDE_ROLES = (Roles.ASSISTANT, Roles.TOOL_CALL)

__all__ = ["Roles", "Modalities", "APITypes", "Invokers", "LLM_SIDE_ROLES"]

from lllm.lazy import lazy_exports as _lazy_exports  # noqa: E402 - 0.1.x names kept here

__getattr__ = _lazy_exports(
    __name__,
    {
        "FunctionCall": "lllm.core.message",
        "InvokeCost": "lllm.core.message",
        "InvokeResult": "lllm.invokers.base",
        "ParseError": "lllm.errors",
    },
)
