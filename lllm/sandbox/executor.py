"""The executor interface: where ``run_python`` code runs. ``AgentInterpreter`` turns its results into
the text the model reads; a backend only runs code, captures output and answers ``CALL_API``."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

from lllm.errors import LLLMError
from lllm.secrets import scrub, scrub_text

#: ``api(path, params)``: what ``CALL_API`` calls in the parent (normally a ``ProxyManager``).
ApiHandler = Callable[[str, Dict[str, Any]], Any]


class SandboxError(LLLMError, RuntimeError):
    """A sandbox that could not be started or talked to (not an error of the user's code)."""


@dataclass
class ExecResult:
    """The outcome of one run.

    ``status``: ``"ok"``, ``"error"`` (the code raised; ``error`` holds the traceback), ``"timeout"``
    (the backend stopped it) or ``"crashed"`` (the process running it died; ``detail`` says how)."""

    output: str = ""
    error: Optional[str] = None
    overflow: bool = False
    status: str = "ok"
    detail: str = ""


class Executor(ABC):
    """Runs code in a persistent namespace that provides ``CALL_API``.

    A new backend (a container, a remote machine) implements these three methods; a process-based one
    can subclass ``SubprocessExecutor`` and change only the command that starts the worker."""

    #: Whether ``run`` can stop code that exceeds its timeout (the in-process backend cannot).
    can_stop: bool = True

    @abstractmethod
    def run(self, code: str, *, timeout: float, api: Optional[ApiHandler]) -> ExecResult:
        """Run ``code``; ``CALL_API(path, params)`` inside it calls ``api`` in this process."""

    @abstractmethod
    def reset(self) -> None:
        """Forget all state; the next run starts fresh."""

    @abstractmethod
    def close(self) -> None:
        """Release every resource; ``run`` may start over afterwards."""


def call_api(api: Optional[ApiHandler], path: Any, params: Any) -> Dict[str, Any]:
    """Answer one ``CALL_API`` request: ``{"ok": True, "value": ...}`` with a JSON-safe value (values JSON
    cannot encode become ``str``; a result JSON cannot hold at all, e.g. with tuple keys, is sent as its
    ``str``), or ``{"ok": False, "type": ..., "message": ...}`` (``type``: the nearest builtin exception type). Known credentials (``lllm.secrets``) are
    replaced in both: an endpoint's error or data may echo its key, and the sandbox's code must not see it."""
    if api is None:
        return {"ok": False, "type": "RuntimeError", "message": "CALL_API is not available: no proxies are active"}
    try:
        value = api(path, dict(params or {}))
    except Exception as e:  # noqa: BLE001 - any failure is the user code's to handle
        message = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], str) else str(e)
        # The sandbox raises builtin types: a subclass (ProxyLookupError, a library's HTTPError) is sent as
        # its nearest builtin base (KeyError, OSError) so ``except KeyError`` works, its own name in the message.
        base = next((c for c in type(e).__mro__ if _builtin_error(c)), type(e))
        if base is not type(e):
            message = f"{type(e).__name__}: {message}"
        return {"ok": False, "type": base.__name__, "message": scrub_text(message)}
    try:
        return {"ok": True, "value": scrub(json.loads(json.dumps(value, default=str)))}
    except (TypeError, ValueError, RecursionError):  # non-string keys, a cycle: not the user code's error
        return {"ok": True, "value": scrub_text(str(value))}


def _builtin_error(cls: type) -> bool:
    """A builtin exception type more specific than ``Exception``."""
    return cls.__module__ == "builtins" and issubclass(cls, Exception) and cls is not Exception


__all__ = ["Executor", "ExecResult", "SandboxError", "ApiHandler", "call_api"]
