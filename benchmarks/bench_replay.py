"""Replay speed: re-run a recorded 100-invocation session exactly, offline (target ≤ 50 ms).

The session: one tactic, one agent, 99 tool-calling steps and a final answer, recorded with a scripted
MockInvoker and loaded back from its JSON form (as from a log store). Prints the median of 20 replays.
Run: .venv/bin/python benchmarks/bench_replay.py"""

from __future__ import annotations

import statistics
import time
import warnings

from lllm import Prompt, Tactic, TacticCallSession, tool
from lllm.logging.replay import rerun
from lllm.testing import MockInvoker, tool_calls

warnings.filterwarnings("ignore", message=".*has no log_store.*")
STEPS = 100


@tool
def step(n: int) -> int:
    """Advance one step."""
    return n + 1


class Walk(Tactic, register=False):
    name = "walk"
    agent_group = ["walker"]

    def call(self, task: str) -> str:
        w = self.agents["walker"]
        w.open("d")
        w.receive_prompt(Prompt(path="walk", prompt="Walk {task}", function_list=[step]), {"task": task})
        return w.respond().content


CONFIG = {
    "global": {"model_name": "mock", "max_interrupt_steps": STEPS},
    "agent_configs": [{"name": "walker", "system_prompt": "You walk."}],
}


def main() -> None:
    script = [tool_calls(("step", {"n": i}, f"s{i}")) for i in range(STEPS - 1)] + ["arrived"]
    recorded = Walk(CONFIG, invoker=MockInvoker(script))("far", return_session=True)
    recorded = TacticCallSession.model_validate_json(recorded.model_dump_json())
    assert recorded.agent_sessions["walker"][0].invoke_count == STEPS
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        replayed = rerun(recorded, tactic=Walk)
        times.append(time.perf_counter() - t0)
        assert replayed.delivery == "arrived" and replayed.metadata["replayed_calls"] == STEPS
    print(
        f"replay of a {STEPS}-invocation session: median {statistics.median(times) * 1000:.1f} ms "
        f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}; target <= 50 ms)"
    )


if __name__ == "__main__":
    main()
