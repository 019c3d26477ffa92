"""A small two-agent tactic with a tool, and recorded sessions of it, for the lllm.eval tests."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

from lllm import Prompt, Tactic, tool
from lllm.core.parsers import DefaultTagParser
from lllm.testing import MockInvoker, tool_calls

LOOKUPS: List[str] = []


@tool
def lookup(topic: str) -> str:
    """Look a topic up (has a side effect: records the call).

    Args:
        topic: What to look up.
    """
    LOOKUPS.append(topic)
    if topic == "forbidden":
        raise ValueError("lookup refused: 'forbidden' is not a topic")
    return f"facts about {topic}"


ASK = Prompt(
    path="eval_kit/ask",
    prompt="Research {topic}",
    function_list=[lookup],
    parser=DefaultTagParser(required_xml_tags=["notes"]),
)


def config(**global_extra: Any) -> Dict[str, Any]:
    return {
        "global": {"model_name": "mock-model", **global_extra},
        "agent_configs": [
            {"name": "researcher", "system_prompt": "You research."},
            {"name": "writer", "system_prompt": "You write."},
        ],
    }


class Brief(Tactic, register=False):
    name = "brief"
    agent_group = ["researcher", "writer"]

    def call(self, task: str) -> str:
        r, w = self.agents["researcher"], self.agents["writer"]
        r.open("main")
        r.receive_prompt(ASK, {"topic": task})
        notes = r.respond().parsed["xml_tags"]["notes"][0]
        w.open("main")
        w.receive(f"Write a brief from: {notes}")
        return w.respond().content


TOPICS = ["tides", "waves", "wind"]


def recording_script(topic: str) -> List[Any]:
    return [
        tool_calls(("lookup", {"topic": topic}, f"t-{topic}")),
        f"<notes>{topic} are {topic}</notes>",
        f"A long brief about {topic}, covering everything there is to say.",
    ]


def record_all(store: Any, topics: List[str] = TOPICS, cfg: Dict[str, Any] | None = None) -> List[str]:
    """Record one Brief session per topic into ``store``; returns their ids."""
    ids = []
    for t in topics:
        s = Brief(cfg or config(), invoker=MockInvoker(recording_script(t)), log_store=store)(t, return_session=True)
        ids.append(s.session_id)
    LOOKUPS.clear()
    return ids


def scripted(*answers: Any) -> Callable[[Any], MockInvoker]:
    """An invoker factory: a fresh MockInvoker with ``answers`` for every re-run."""
    return lambda variant: MockInvoker(list(answers))
