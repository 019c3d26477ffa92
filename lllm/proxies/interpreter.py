"""0.1.x path of ``AgentInterpreter``, which now lives in ``lllm.sandbox``."""

from __future__ import annotations

from lllm.sandbox import AgentInterpreter

__all__ = ["AgentInterpreter"]
