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


LLM_SIDE_ROLES = (Roles.ASSISTANT, Roles.TOOL_CALL)

__all__ = ["Roles", "Modalities", "APITypes", "LLM_SIDE_ROLES"]
