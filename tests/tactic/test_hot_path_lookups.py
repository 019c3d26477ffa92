"""A call on the native HTTP path makes no lazy module lookup.

Modules that keep 0.1.x names (``lllm.core.dialog`` and others) answer unknown attributes with a PEP 562
``__getattr__``. An import inside a function (``from lllm.core.dialog import Dialog``) asks such a module for
``__path__`` every time it runs, and the lookup fails by building an AttributeError and its message: a cost
on every call for nothing. Over real sockets (the benchmark's fake OpenAI server), a simple call and a tool
run must not reach any ``__getattr__`` of LLLM's modules once the first call has loaded them."""

from __future__ import annotations

import sys
import warnings
from collections import Counter
from typing import Any, Callable

import pytest

from lllm import Function, Prompt, Tactic


def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


class Chat(Tactic, register=False):
    name = "hot_path_chat"
    agent_group = ["a"]

    async def call(self, task: str) -> str:
        agent = self.agents["a"]
        agent.open("main")
        agent.receive(task)
        return (await agent.arespond()).content


TOOL_PROMPT = Prompt(path="hot_path/tool", prompt="{q}", function_list=[Function.from_callable(weather)])


class ToolRun(Chat, register=False):
    name = "hot_path_tool"

    async def call(self, task: str) -> str:
        agent = self.agents["a"]
        agent.open("main")
        agent.receive_prompt(TOOL_PROMPT, {"q": task})
        return (await agent.arespond()).content


def _config(base: str) -> dict:
    return {
        "global": {
            "model_name": "openai/fake-model",
            "model_args": {"api_base": base, "api_key": "sk-fake"},
            "max_interrupt_steps": 8,
        },
        "agent_configs": [{"name": "a", "system_prompt": "Answer."}],
    }


def _count_lazy_lookups(monkeypatch: pytest.MonkeyPatch) -> Counter:
    seen: Counter = Counter()
    for name, module in list(sys.modules.items()):
        lookup = vars(module).get("__getattr__") if name.split(".")[0] == "lllm" else None
        if callable(lookup):

            def counted(attr: str, _lookup: Callable[[str], Any] = lookup, _name: str = name) -> Any:
                seen[f"{_name}.{attr}"] += 1
                return _lookup(attr)

            monkeypatch.setattr(module, "__getattr__", counted)
    return seen


@pytest.mark.parametrize("tactic_type", [Chat, ToolRun], ids=["simple call", "tool run"])
async def test_a_call_after_the_first_reaches_no_lazy_module_lookup(fake_servers, monkeypatch, tactic_type):
    warnings.filterwarnings("ignore", message=".*has no log_store.*")
    tactic = tactic_type(_config(fake_servers("--tool-calls", "2")))
    assert (await tactic.acall("warm-up: Paris?")).strip()  # loads every module the call needs
    seen = _count_lazy_lookups(monkeypatch)
    for i in range(3):
        assert (await tactic.acall(f"question {i}: Paris?")).strip()
    assert seen == Counter(), f"lazy module lookups during 3 calls: {dict(seen)}; import the name at module level"
