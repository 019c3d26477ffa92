"""A fork's divergence report never carries a live credential (the recording holds it redacted)."""

from __future__ import annotations

import os

import pytest

from lllm import Tactic
from lllm.errors import LLLMError
from lllm.logging import sqlite_store
from lllm.logging.replay import ReplayInvoker, rerun
from lllm.testing import MockInvoker, TestInvoker

KEY = "sk-live-0123456789abcdef"
CONFIG = {"global": {"model_name": "mock"}, "agent_configs": [{"name": "main", "system_prompt": "You help."}]}


class UsesKey(Tactic, register=False):
    name = "uses_key"
    agent_group = ["main"]

    def call(self, task: str) -> str:
        agent = self.agents["main"]
        agent.open("main")
        agent.receive(f"Use key {os.environ['ACME_API_KEY']} for {task}")
        return agent.respond().content


class Changed(UsesKey, register=False):
    def call(self, task: str) -> str:
        return super().call(task + " and more")


def _recorded(tmp_path):
    store = sqlite_store(tmp_path / "s.db")
    UsesKey(CONFIG, invoker=MockInvoker(["ok"]), log_store=store)("tides")
    recorded = store.load_session(store.list_sessions()[0].session_id)
    assert "[REDACTED]" in recorded.dialogs["main"][0]["messages"][1]["content"]
    return store, recorded


def test_a_forks_diverged_at_diff_hides_the_live_credential(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_API_KEY", KEY)
    store, recorded = _recorded(tmp_path)
    forked = rerun(recorded, tactic=Changed, invoker=TestInvoker(), log_store=store)
    diff = forked.metadata["diverged_at"]["diff"]  # what `lllm replay` prints and the UI answers with
    assert "tides and more" in diff and KEY not in diff


class Opens(UsesKey, register=False):
    """Builds the changed request without sending it: the dialog is handed to the replay invoker directly."""

    dialogs: list = []

    def call(self, task: str) -> str:
        agent = self.agents["main"]
        agent.open("main")
        agent.receive(f"Use key {os.environ['ACME_API_KEY']} for {task} and more")
        self.dialogs.append(agent.dialogs["main"])
        return "not sent"


def test_the_replay_invokers_divergence_error_hides_the_live_credential(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_API_KEY", KEY)
    _, recorded = _recorded(tmp_path)
    Opens(CONFIG)("tides")
    with pytest.raises(LLLMError) as ei:
        ReplayInvoker(recorded).call(Opens.dialogs[-1], "mock", responder="main")
    assert "tides and more" in str(ei.value) and KEY not in str(ei.value)
