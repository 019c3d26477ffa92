"""The opt-in OpenTelemetry exporter: GenAI-convention spans built from a finished session."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from lllm import Prompt, Tactic, tool  # noqa: E402
from lllm.core.tactic import session_hooks  # noqa: E402
from lllm.errors import AgentCallError, ProviderError  # noqa: E402
from lllm.logging.tracing import disable_tracing, enable_tracing  # noqa: E402
from lllm.testing import MockInvoker, tool_calls  # noqa: E402


@tool
def measure(x: int) -> int:
    """Measure."""
    return x * 2


class Solo(Tactic, register=False):
    name = "solo"
    agent_group = ["worker"]

    def call(self, task: str) -> str:
        w = self.agents["worker"]
        w.open("d")
        w.receive_prompt(Prompt(path="trace/p", prompt="{t}", function_list=[measure]), {"t": task})
        return w.respond().content


CONFIG = {"global": {"model_name": "mock"}, "agent_configs": [{"name": "worker", "system_prompt": "w"}]}


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    enable_tracing(provider)
    yield exporter
    disable_tracing()
    assert not session_hooks


def test_a_session_becomes_a_genai_span_tree(spans):
    Solo(CONFIG, invoker=MockInvoker([tool_calls(("measure", {"x": 2}, "m1")), "done"]))("go")
    got = {s.name: s for s in spans.get_finished_spans()}
    assert set(got) == {"tactic solo", "invoke_agent worker", "chat mock", "execute_tool measure"}
    root, agent = got["tactic solo"], got["invoke_agent worker"]
    assert agent.parent.span_id == root.context.span_id
    assert got["chat mock"].parent.span_id == agent.context.span_id
    assert got["execute_tool measure"].attributes["gen_ai.tool.call.id"] == "m1"
    assert agent.attributes["gen_ai.agent.name"] == "worker" and root.attributes["lllm.session.state"] == "success"
    assert [s.name for s in spans.get_finished_spans()].count("chat mock") == 2


def test_failures_mark_spans_as_errors(spans):
    with pytest.raises(AgentCallError):
        Solo(CONFIG, invoker=MockInvoker([ProviderError("bad request", status=400)]))("go")
    got = {s.name: s for s in spans.get_finished_spans()}
    assert not got["tactic solo"].status.is_ok and got["chat mock"].attributes["error.type"] == "ProviderError"
    assert got["invoke_agent worker"].attributes["error.type"] == "llm_error"


def test_nothing_is_emitted_unless_enabled():
    exporter = InMemorySpanExporter()
    Solo(CONFIG, invoker=MockInvoker(["x"]))("go")
    assert exporter.get_finished_spans() == () and not session_hooks
