"""Tactics the Ray tests run (shipped to the workers with ``runtime_env={"py_modules": [...]}``)."""

from __future__ import annotations

import os
import time

from lllm import Tactic


def note_node() -> None:
    """Append this worker's Ray node id to the folder ``LLLM_RAY_TEST_NODES`` names (set on the test cluster)."""
    folder = os.environ.get("LLLM_RAY_TEST_NODES")
    if folder:
        import ray

        with open(os.path.join(folder, f"{os.getpid()}.node"), "a") as f:
            f.write(ray.get_runtime_context().get_node_id() + "\n")


class Ask(Tactic, register=False):
    name = "ray_ask"
    agent_group = ["a"]

    def call(self, task: str) -> str:
        if task.startswith("fail"):
            raise ValueError(f"refused {task}")
        if task.startswith("die-once:"):  # the worker process dies the first time (a marker file remembers)
            marker = task.split(":", 1)[1]
            if not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(1)
        if task.startswith("hold:"):  # the first time: note the worker's pid, then wait to be killed
            marker = task.split(":", 1)[1]
            if not os.path.exists(marker):
                with open(marker + ".tmp", "w") as f:
                    f.write(str(os.getpid()))
                os.rename(marker + ".tmp", marker)
                time.sleep(60)
        note_node()
        a = self.agents["a"]
        a.open("main")
        a.receive(task)
        return a.respond().content


class AsyncAsk(Ask, register=False):
    async def call(self, task: str) -> str:
        a = self.agents["a"]
        a.open("main")
        a.receive(task)
        return (await a.arespond()).content


class Echo(Ask, register=False):
    """``Ask`` with the task in its result, so results in the wrong order or slot show."""

    def call(self, task: str) -> str:
        return f"{task}: {super().call(task)}"


def config(base: str) -> dict:
    """An agent on the fake server; the key comes from the environment (OPENAI_API_KEY)."""
    return {
        "global": {"model_name": "gpt-4o-mini", "model_args": {"base_url": base}},
        "agent_configs": [{"name": "a", "system_prompt": "Answer."}],
    }
