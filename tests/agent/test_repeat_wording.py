"""A tool call repeating one of an earlier step is answered from it, and the model is told it was made
earlier in this call, not (wrongly) earlier in this turn."""

from __future__ import annotations

from lllm import Agent, Prompt, tool
from lllm.testing import MockInvoker, tool_calls


def test_a_repeat_of_an_earlier_steps_call_is_not_said_to_be_from_this_turn():
    runs = []

    @tool
    def tick(label: str) -> int:
        """Count calls."""
        runs.append(label)
        return len(runs)

    script = [tool_calls(("tick", {"label": "a"}, "r1")), tool_calls(("tick", {"label": "a"}, "r2")), "done"]
    agent = Agent(name="bot", system_prompt="You count.", model="mock-model", llm_invoker=MockInvoker(script))
    agent.open("main")
    agent.receive_prompt(Prompt(path="t/s7b_rep", prompt="Go", function_list=[tick]))
    session = agent.respond(return_session=True)
    repeat = session.interrupts[1][0].result_str
    assert runs == ["a"] and "already made earlier" in repeat
    assert "in a previous turn" in repeat and "this turn" not in repeat  # it was made in the previous turn
