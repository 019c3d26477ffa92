"""A re-run saved to a store keeps what ``rerun`` reports: where it diverged and how many calls it replayed."""

from __future__ import annotations

from lllm import Tactic
from lllm.logging import sqlite_store
from lllm.logging.replay import rerun
from lllm.testing import MockInvoker, TestInvoker

CONFIG = {"global": {"model_name": "mock"}, "agent_configs": [{"name": "main", "system_prompt": "You help."}]}


class Twice(Tactic, register=False):
    name = "twice"
    agent_group = ["main"]

    def call(self, task: str) -> str:
        agent = self.agents["main"]
        agent.open("main")
        agent.receive(f"First {task}")
        first = agent.respond().content
        agent.receive(f"Then {task}")
        return first + " / " + agent.respond().content


def _recorded(store):
    Twice(CONFIG, invoker=MockInvoker(["one", "two"]), log_store=store)("tides")
    return store.load_session(store.list_sessions()[0].session_id)


def test_a_stored_fork_records_where_it_diverged(tmp_path):
    store = sqlite_store(tmp_path / "s.db")
    recorded = _recorded(store)
    overrides = {"agent_configs.main.system_prompt": "You help tersely."}
    forked = rerun(recorded, tactic=Twice, invoker=TestInvoker(), overrides=overrides, log_store=store)
    assert forked.metadata["diverged_at"]["agent"] == "main"
    stored = store.load_session_record(forked.session_id)
    for meta in (stored.session.metadata, stored.metadata):
        assert meta["replay_of"] == recorded.session_id
        assert meta["diverged_at"] == forked.metadata["diverged_at"]
        assert meta["replayed_calls"] == 0


def test_a_stored_exact_replay_records_its_replayed_calls(tmp_path):
    store = sqlite_store(tmp_path / "s.db")
    recorded = _recorded(store)
    replayed = rerun(recorded, tactic=Twice, log_store=store)
    stored = store.load_session_record(replayed.session_id)
    assert replayed.delivery == stored.session.delivery == "one / two"
    for meta in (stored.session.metadata, stored.metadata):
        assert meta["diverged_at"] is None and meta["replayed_calls"] == 2


def test_the_re_runs_store_can_be_copied(tmp_path):
    """A tactic's store may be copied (a copy of the tactic): the re-run's store wrapper survives it."""
    import copy

    from lllm.logging.replay import ReplayInvoker, _StampingStore

    store = sqlite_store(tmp_path / "s.db")
    recorded = _recorded(store)
    wrapper = _StampingStore(store, ReplayInvoker(recorded), {})
    assert copy.copy(wrapper).list_sessions()[0].session_id == recorded.session_id
