"""Exceptions raised by LLLM. Every one derives from ``LLLMError``, and every message
names the culprit (agent, prompt, key or file) and, where there is a choice, the valid alternatives."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from lllm.secrets import scrub, scrub_text


class LLLMError(Exception):
    """Base class of every error LLLM raises on purpose."""


class ParseError(LLLMError):
    """Model output that the active parser or ``format`` rejected; triggers an exception retry."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail


class AgentException(LLLMError):
    """An error inside an agent's call loop."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail


class AgentCallError(AgentException, ValueError):
    """A ``respond()`` that ran out of a budget or hit a fatal provider error.

    ``reason`` is one of ``"exception_retries"``, ``"llm_error"``, ``"max_steps"``, ``"retry_wait"``
    (a provider's Retry-After over ``max_retry_wait_s``), ``"deadline"`` (``call_deadline_s``); ``session``
    holds every attempt; ``__cause__`` is the last underlying exception. Known credentials are
    scrubbed from the message and from ``session`` (a copy where it held one, see ``lllm.secrets``)."""

    def __init__(self, message: str, *, reason: str, session: Any = None, detail: str = ""):
        super().__init__(scrub_text(message), scrub_text(detail))
        self.reason = reason
        self.session = scrub(session)


class ConfigError(LLLMError, ValueError):
    """A configuration value of the wrong type or an unknown option."""


class ResourceNotFoundError(LLLMError, KeyError):
    """A resource key that resolves to nothing; ``suggestions`` holds close matches."""

    def __init__(self, message: str, key: str = "", suggestions: Optional[List[str]] = None):
        super().__init__(message)
        self.message = message
        self.key = key
        self.suggestions = list(suggestions or [])

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class ToolBindingError(LLLMError, KeyError):
    """A tool declaration that has no usable implementation."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class PackageError(LLLMError, ValueError):
    """A malformed package manifest, a name clash or a hostile archive."""


class ProxyError(LLLMError, RuntimeError):
    """A proxy that could not be constructed or called."""


class ProviderError(LLLMError):
    """An error answered by (or on the way to) a model provider.

    ``kind`` is the retry class: ``"rate_limit"``, ``"transient"`` or ``None`` (fatal);
    ``retry_after`` is the provider's ``Retry-After`` in seconds, if it sent one; ``request`` is what
    was sent (``InvokeResult.request``, no headers), set by the invoker once the request was built.
    Known credentials are scrubbed from the message and the body (a provider may echo a rejected key)."""

    message: str
    status: Optional[int]
    kind: Optional[str]
    retry_after: Optional[float]
    body: Any
    provider: str
    request: Optional[Dict[str, Any]]

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        kind: Optional[str] = None,
        retry_after: Optional[float] = None,
        body: Any = None,
        provider: str = "",
        request: Optional[Dict[str, Any]] = None,
    ):
        message = scrub_text(message)
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind
        self.retry_after = retry_after
        self.body = scrub(body)
        self.provider = provider
        self.request = request


__all__ = [
    "LLLMError",
    "ParseError",
    "AgentException",
    "AgentCallError",
    "ConfigError",
    "ResourceNotFoundError",
    "ToolBindingError",
    "PackageError",
    "ProxyError",
    "ProviderError",
]
