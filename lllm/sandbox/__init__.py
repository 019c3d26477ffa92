"""Where ``run_python`` code runs: ``AgentInterpreter`` over an ``Executor`` backend.

``subprocess`` runs code in a persistent, killable worker process with a minimal environment, resource
limits and ``CALL_API`` answered by the parent over a pipe; ``bwrap`` runs that worker inside bubblewrap
namespaces (the real boundary, also without root); ``auto`` (default) picks ``bwrap`` where it works, else
``subprocess``; ``inprocess`` is the 0.1.x compatibility mode and no security boundary. See
``docs/security.md`` for what each one stops."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lllm.sandbox.bwrap_backend import BwrapExecutor, bwrap_status
from lllm.sandbox.executor import ApiHandler, ExecResult, Executor, SandboxError
from lllm.sandbox.inprocess_backend import InProcessExecutor
from lllm.sandbox.interpreter import BACKENDS, AgentInterpreter, clip_output, resolve_backend
from lllm.sandbox.subprocess_backend import SubprocessExecutor

__all__ = [
    "AgentInterpreter",
    "Executor",
    "ExecResult",
    "SandboxError",
    "ApiHandler",
    "SubprocessExecutor",
    "BwrapExecutor",
    "InProcessExecutor",
    "clip_output",
    "bwrap_status",
    "resolve_backend",
    "BACKENDS",
]

from lllm.lazy import lazy_exports as _lazy_exports  # noqa: E402 - 0.1.x name kept here

if TYPE_CHECKING:  # pragma: no cover - lets type checkers see the lazily imported names (`X as X`: a re-export)
    from lllm.sandbox.jupyter import (
        JupyterCellType as JupyterCellType,
        JupyterSandbox as JupyterSandbox,
        JupyterSession as JupyterSession,
        ProgrammingLanguage as ProgrammingLanguage,
    )

__getattr__ = _lazy_exports(
    __name__,
    {n: "lllm.sandbox.jupyter" for n in ("JupyterSession", "JupyterSandbox", "JupyterCellType", "ProgrammingLanguage")},
)
