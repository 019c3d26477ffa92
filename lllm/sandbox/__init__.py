"""Where ``run_python`` code runs: ``AgentInterpreter`` over an ``Executor`` backend.

``subprocess`` (default) runs code in a persistent, killable worker process with a minimal
environment, resource limits and ``CALL_API`` answered by the parent over a pipe; ``inprocess`` is the
0.1.x compatibility mode and no security boundary. See ``subprocess_backend`` for what is contained."""
from __future__ import annotations

from lllm.sandbox.executor import ApiHandler, Executor, ExecResult, SandboxError
from lllm.sandbox.inprocess_backend import InProcessExecutor
from lllm.sandbox.interpreter import AgentInterpreter, clip_output
from lllm.sandbox.subprocess_backend import SubprocessExecutor

__all__ = ["AgentInterpreter", "Executor", "ExecResult", "SandboxError", "ApiHandler", "SubprocessExecutor",
           "InProcessExecutor", "clip_output"]
