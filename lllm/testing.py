"""Test helpers for LLLM users and for LLLM itself.

- ``MockInvoker(script)``: replays scripted answers in order and records every request.
- ``TestInvoker``: a deterministic, schema-driven offline model (``model="test"``): on a turn with
  tools it first calls each offered tool once with arguments generated from its JSON Schema, then
  answers with text that satisfies the active parser or JSON valid against the active ``format``.
- ``ReplayInvoker``: answers model and tool calls from a recorded session (exact offline replay).
- ``tool_calls(...)``, ``sample_json(schema)``: build scripted tool calls and schema-valid values.
"""

from __future__ import annotations

from lllm.invokers.offline import MockInvoker, MockRequest, ScriptItem, TestInvoker, sample_json, tool_calls
from lllm.logging.replay import ReplayInvoker

__all__ = ["MockInvoker", "MockRequest", "TestInvoker", "ReplayInvoker", "tool_calls", "sample_json", "ScriptItem"]
