"""The two-agent report pipeline (a tool, a typed result) that ``tests/logging/test_store_e2e.py`` runs and that
recorded the store fixture ``tests/logging/fixtures/store_v1`` (replayed by ``test_replay_schema.py``)."""

from __future__ import annotations

from typing import List

from pydantic import BaseModel

from lllm import Prompt, Tactic, tool


@tool
def lookup_fact(topic: str) -> str:
    """Look up one fact about a topic.

    Args:
        topic: What to look up.
    """
    return f"{topic} has a long history."


class Report(BaseModel):
    title: str
    points: List[str]


research = Prompt(
    path="e2e/research", prompt="Research {topic} with the tools, then write notes.", function_list=[lookup_fact]
)
write = Prompt(path="e2e/write", prompt="Write a report on {topic} from these notes:\n{notes}", format=Report)


class Pipeline(Tactic, register=False):
    name = "pipeline"
    agent_group = ["researcher", "writer"]

    def call(self, task: str) -> Report:
        researcher = self.agents["researcher"]
        researcher.open("research")
        researcher.receive_prompt(research, {"topic": task})
        notes = researcher.respond()
        writer = self.agents["writer"]
        writer.open("write")
        writer.receive_prompt(write, {"topic": task, "notes": notes.content})
        return writer.respond().parsed_as(Report)


CONFIG = {
    "global": {"model_name": "test", "model_args": {"max_tokens": 300}},
    "agent_configs": [
        {"name": "researcher", "system_prompt": "You research."},
        {"name": "writer", "system_prompt": "You write reports."},
    ],
}


__all__ = ["CONFIG", "Pipeline", "Report", "lookup_fact", "research", "write"]
