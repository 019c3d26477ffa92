"""Tactic (§5): registration, fresh agents per call, sessions and cost roll-up, typed I/O, batches."""

from __future__ import annotations

import asyncio
import time
import warnings

import pytest
from pydantic import BaseModel

from lllm import Agent, Message, Prompt, Runtime, Tactic, build_tactic
from lllm.core.tactic import register_tactic_class
from lllm.errors import ConfigError, ResourceNotFoundError

CONFIG = {
    "global": {"model_name": "test"},
    "agent_configs": [
        {"name": "writer", "system_prompt": "You write."},
        {"name": "critic", "system_prompt": "You criticise."},
    ],
}


class MemoryStore:
    """A minimal log store: what a Tactic needs from one."""

    def __init__(self, fail=False):
        self.saved, self.fail = [], fail

    def save_session(self, session, tags=None, metadata=None):
        if self.fail:
            raise OSError("disk full")
        self.saved.append((session, tags, metadata))
        return f"id{len(self.saved)}"


rt = Runtime("tactic-tests")


class Pair(Tactic, runtime=rt):
    name = "pair"
    agent_group = ["writer", "critic"]

    def call(self, task: str) -> str:
        w, c = self.agents["writer"], self.agents["critic"]
        w.open("d")
        w.receive(task)
        draft = w.respond()
        c.open("d")
        c.receive(draft.content, name="writer")
        return c.respond().content


def test_registration_targets_the_explicit_runtime_and_builds_by_name():
    assert rt.get_tactic("pair") is Pair
    t = build_tactic({**CONFIG, "tactic_type": "pair"}, runtime=rt)
    assert isinstance(t, Pair) and t.tactic_path == "pair"
    with pytest.raises(ConfigError, match="tactic_type"):
        build_tactic(CONFIG, runtime=rt)
    with pytest.raises(ResourceNotFoundError, match="pair"):
        build_tactic(CONFIG, name="pear", runtime=rt)


def test_unnamed_subclasses_are_not_registered_and_register_requires_a_name():
    before = rt.keys("tactic")

    class Base(Tactic, runtime=rt):
        def call(self, task):
            return task

    assert rt.keys("tactic") == before
    with pytest.raises(ValueError, match="must define"):
        register_tactic_class(Base, rt)


def test_missing_call_is_a_type_error():
    class NoCall(Tactic, register=False):
        name = "nocall"

    with pytest.raises(TypeError):
        NoCall(CONFIG)


def test_each_call_gets_fresh_agents_and_records_sessions_and_cost():
    store = MemoryStore()
    t = Pair(CONFIG, runtime=rt, log_store=store)
    s1 = t("hello", return_session=True, tags={"k": "v"})
    s2 = t("again", return_session=True)
    assert s1.state == "success" and isinstance(s1.delivery, str)
    assert s1.agent_call_count == 2 and set(s1.agent_sessions) == {"writer", "critic"}
    assert s1.total_cost.prompt_tokens > 0 and s1.total_cost.cost == 0
    assert s1.agent_sessions["writer"][0] is not s2.agent_sessions["writer"][0]
    assert t.agents == {}  # the instance itself holds no per-call agents
    assert len(store.saved) == 2 and store.saved[0][1] == {"k": "v"} and s1.session_id == "id1"
    assert "writer" in s1.dialogs and s1.dialogs["writer"][0]["messages"][0]["role"] == "system"
    env = s1.environment
    assert env["lllm"] and env["python"] and "pydantic" in env["libraries"] and env["packages"] == {}


def test_failure_is_recorded_reraised_unchanged_and_saving_never_masks_it():
    class Boom(Tactic, register=False):
        name = "boom"

        def call(self, task):
            raise KeyError("original")

    store = MemoryStore()
    with pytest.raises(KeyError, match="original"):
        Boom({}, log_store=store)("x")
    session = store.saved[0][0]
    assert session.state == "failure" and session.error.startswith("KeyError")
    assert "raise KeyError" in session.error_traceback
    with pytest.raises(KeyError, match="original"):
        Boom({}, log_store=MemoryStore(fail=True))("x")


def test_no_store_is_quiet_and_said_once_at_info(caplog):
    t = Pair(CONFIG, runtime=rt)
    with warnings.catch_warnings(record=True) as w, caplog.at_level("INFO", logger="lllm"):
        warnings.simplefilter("always")
        t("a")
        t("b")
    assert not [x for x in w if "log_store" in str(x.message)]
    assert sum("has no log_store" in r.getMessage() for r in caplog.records) == 1


class Query(BaseModel):
    topic: str
    n: int = 1


class Result(BaseModel):
    summary: str


class Typed(Tactic, register=False):
    name = "typed"

    def call(self, task: Query) -> Result:
        assert isinstance(task, Query)
        return {"summary": task.topic * task.n}


def test_typed_input_and_output():
    t = Typed({})
    assert t({"topic": "ab", "n": 2}) == Result(summary="abab")
    assert t('{"topic": "x"}').summary == "x"
    with pytest.raises(ValueError, match="not a valid Query"):
        t({"n": "many"})


class Parent(Tactic, register=False):
    name = "parent"

    def __init__(self, config=None, **kw):
        super().__init__(config, **kw)
        self.helper = Typed({})

    def call(self, task: str) -> str:
        return self.helper({"topic": task}).summary + "!"


def test_sub_tactic_sessions_are_recorded_automatically():
    s = Parent({}).__call__("hi", return_session=True)
    assert s.delivery == "hi!"
    assert list(s.sub_tactic_sessions) == ["helper"] and s.sub_tactic_sessions["helper"][0].state == "success"
    assert "helper" in Parent({}).sub_tactics


class Sleepy(Tactic, register=False):
    name = "sleepy"

    def call(self, task):
        if task == "bad":
            raise RuntimeError("bad task")
        time.sleep(0.05)
        return task * 2


def test_bcall_orders_results_and_handles_edge_cases():
    t = Sleepy({"max_workers": 3})
    assert t.bcall([]) == []
    assert t.bcall(["a", "b", "c", "d"]) == ["aa", "bb", "cc", "dd"]
    with pytest.raises(ValueError, match="max_workers"):
        t.bcall(["a"], max_workers=0)
    sessions = t.bcall(["a", "b"], return_sessions=True)
    assert [s.metadata["batch_index"] for s in sessions] == [0, 1]


def test_bcall_fail_fast_cancels_tasks_not_yet_started():
    started = []

    class Track(Sleepy, register=False):
        def call(self, task):
            started.append(task)
            return super().call(task)

    t = Track({})
    with pytest.raises(RuntimeError, match="bad task"):
        t.bcall(["bad"] + [f"t{i}" for i in range(20)], max_workers=2)
    assert len(started) < 21
    out = t.bcall(["x", "bad", "y"], fail_fast=False)
    assert out[0] == "xx" and isinstance(out[1], RuntimeError) and out[2] == "yy"


class AsyncT(Tactic, register=False):
    name = "async_t"

    async def call(self, task):
        await asyncio.sleep(0.01 * (3 - int(task)))
        if task == "9":
            raise ValueError("nine")
        return int(task) * 10


def test_async_call_acall_bcall_and_ccall():
    t = AsyncT({})
    assert t("2") == 20
    assert asyncio.run(t.acall("1")) == 10
    assert t.bcall(["0", "1", "2"]) == [0, 10, 20]

    async def collect():
        return [x async for x in t.ccall(["0", "1", "2"])]

    got = asyncio.run(collect())
    assert sorted(got) == [(0, 0), (1, 10), (2, 20)] and got[0] == (2, 20)  # completion order

    async def failing():
        return [x async for x in t.ccall(["9", "0"], return_exceptions=True)]

    res = dict(asyncio.run(failing()))
    assert isinstance(res[0], ValueError) and res[1] == 0
    with pytest.raises(ValueError, match="nine"):
        t.bcall(["9", "1"])


def test_quick():
    msg = Tactic.quick("What is 2+2?", model="test")
    assert isinstance(msg, Message) and "2+2" in msg.content
    agent = Tactic.quick(model="test")
    assert isinstance(agent, Agent) and agent.name == "assistant"
    sp = Prompt(path="sys/quick", prompt="You are terse.")
    assert Tactic.quick(sp, model="test").system_prompt is sp
    reply, agent3 = Tactic.quick("hi", model="test", return_agent=True)
    assert isinstance(reply, Message) and agent3.current_dialog.tail is not None


def test_config_errors_surface_at_construction():
    with pytest.raises(
        ValueError, match=r"Agent 'critic' required by tactic 'pair' not found .*Available: \['writer'\]"
    ):
        Pair(
            {"global": {"model_name": "test"}, "agent_configs": [{"name": "writer", "system_prompt": "x"}]}, runtime=rt
        )
    with pytest.raises(ConfigError, match="exactly one"):
        Pair(
            {
                "global": {"model_name": "test", "system_prompt": "a", "system_prompt_path": "b"},
                "agent_configs": [{"name": "writer"}, {"name": "critic"}],
            },
            runtime=rt,
        )
    with pytest.raises(ResourceNotFoundError, match="Agent 'writer'"):
        Pair(
            {
                "global": {"model_name": "test"},
                "agent_configs": [
                    {"name": "writer", "system_prompt_path": "missing/prompt"},
                    {"name": "critic", "system_prompt": "c"},
                ],
            },
            runtime=rt,
        )
    with pytest.warns(UserWarning, match="unknown keys \\['temperature'\\]"):
        t = Pair(
            {
                "global": {"model_name": "test", "temperature": 0.3},
                "agent_configs": [{"name": "writer", "system_prompt": "w"}, {"name": "critic", "system_prompt": "c"}],
            },
            runtime=rt,
        )
    assert t._agent_specs["writer"].model_args == {"temperature": 0.3}


def test_agent_group_configs_are_read():
    t = Pair(
        {
            "global": {"model_name": "test"},
            "agent_group_configs": {"writer": {"system_prompt": "w"}, "critic": {"system_prompt": "c"}},
        },
        runtime=rt,
    )
    assert set(t._agent_specs) == {"writer", "critic"}
    with pytest.raises(ConfigError, match="both"):
        Pair(
            {
                "global": {"model_name": "test"},
                "agent_configs": [{"name": "writer", "system_prompt": "w"}],
                "agent_group_configs": {"writer": {"system_prompt": "w"}},
            },
            runtime=rt,
        )


def test_shared_instance_is_safe_under_concurrent_calls():
    t = Pair(CONFIG, runtime=rt, log_store=MemoryStore())
    results = t.bcall([f"task {i}" for i in range(8)], max_workers=8, return_sessions=True)
    assert all(s.state == "success" and s.agent_call_count == 2 for s in results)
    assert len({id(s.agent_sessions["writer"][0]) for s in results}) == 8
