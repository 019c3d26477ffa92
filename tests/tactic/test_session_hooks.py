"""Session hooks (the OpenTelemetry exporter) see a stored session with its id."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from lllm import Tactic  # noqa: E402
from lllm.logging import LogStore  # noqa: E402
from lllm.logging.backends import LocalFileBackend  # noqa: E402
from lllm.logging.tracing import disable_tracing, enable_tracing  # noqa: E402

CONFIG = {"global": {"model_name": "test"}, "agent_configs": [{"name": "echo", "system_prompt": "Echo."}]}


class Echo(Tactic, register=False):
    name = "s7_hooked"
    agent_group = ["echo"]

    def call(self, task: str) -> str:
        agent = self.agents["echo"]
        agent.open("d")
        agent.receive(task)
        return agent.respond().content


class AsyncEcho(Echo, register=False):
    async def call(self, task: str) -> str:
        agent = self.agents["echo"]
        agent.open("d")
        agent.receive(task)
        return (await agent.arespond()).content


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    enable_tracing(provider)
    yield exporter
    disable_tracing()


@pytest.mark.parametrize("cls", [Echo, AsyncEcho])
def test_a_stored_sessions_span_carries_its_session_id(spans, tmp_path, cls):
    """The hooks ran before the session was saved, so ``lllm.session.id`` was always empty with a store."""
    store = LogStore(LocalFileBackend(tmp_path))
    tactic = cls(CONFIG, log_store=store)
    session = (
        asyncio.run(tactic.acall("hi", return_session=True)) if cls is AsyncEcho else tactic("hi", return_session=True)
    )
    (root,) = [s for s in spans.get_finished_spans() if s.name == "tactic s7_hooked"]
    assert session.session_id and root.attributes["lllm.session.id"] == session.session_id
    assert store.load_session(session.session_id).session_name == session.session_name
