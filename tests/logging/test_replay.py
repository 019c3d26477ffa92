"""Exact offline replay and fork-and-rerun of a recorded multi-agent session (§9.3)."""

from __future__ import annotations

import json

import pytest

from lllm import Prompt, Tactic, TacticCallSession, tool
from lllm.core.parsers import DefaultTagParser
from lllm.errors import LLLMError, ProviderError
from lllm.logging.replay import ReplayInvoker, canonical_message, rerun
from lllm.testing import MockInvoker, TestInvoker, tool_calls

CALLS = {"n": 0}


@tool
def lookup(topic: str) -> str:
    """Look a topic up (has a side effect: counts its calls)."""
    CALLS["n"] += 1
    return f"facts about {topic}"


ASK = Prompt(
    path="replay/ask",
    prompt="Research {topic}",
    function_list=[lookup],
    parser=DefaultTagParser(required_xml_tags=["notes"]),
)

CONFIG = {
    "global": {"model_name": "mock-model", "rate_limit_retries": 2},
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


def script():
    return [
        tool_calls(("lookup", {"topic": "tides"}, "t1")),  # researcher: a tool call
        "no tags",  # researcher: invalid output → recovery
        "<notes>tides are tidal</notes>",  # researcher: valid
        ProviderError("429", status=429, kind="rate_limit"),  # writer: rate-limited once
        "Tides rise and fall.",
    ]  # writer: answer


def record() -> TacticCallSession:
    CALLS["n"] = 0
    s = Brief(CONFIG, invoker=MockInvoker(script()))("tides", return_session=True)
    s.session_id = "20260101_000000_deadbeef"
    return TacticCallSession.model_validate_json(s.model_dump_json())  # as loaded back from a store


def dialogs_of(session: TacticCallSession):
    return {
        a: [[canonical_message(__import__("lllm").Message.model_validate(m)) for m in d["messages"]] for d in ds]
        for a, ds in session.dialogs.items()
    }


def test_exact_replay_reproduces_delivery_and_dialogs_offline_without_side_effects():
    recorded = record()
    assert CALLS["n"] == 1 and recorded.agent_call_count == 2
    replayed = rerun(recorded, tactic=Brief)
    assert replayed.delivery == recorded.delivery == "Tides rise and fall."
    assert dialogs_of(replayed) == dialogs_of(recorded)
    assert CALLS["n"] == 1  # the tool result came from the recording
    assert replayed.metadata["replay_of"] == recorded.session_id and replayed.metadata["diverged_at"] is None
    assert replayed.metadata["replayed_calls"] == 5
    r = replayed.agent_sessions["researcher"][0]
    assert r.exception_retries_count == 1 and replayed.agent_sessions["writer"][0].rate_limit_retries_count == 1


def test_replay_invoker_raises_with_a_diff_when_the_code_changed():
    recorded = record()

    class Changed(Brief, register=False):
        def call(self, task: str) -> str:
            return super().call(task + " and waves")

    with pytest.raises(LLLMError) as ei:
        rerun(recorded, tactic=Changed)
    text = str(ei.value)
    assert "Replay diverged at agent 'researcher', call #1" in text
    assert '-   "content": "Research tides",' in text and '+   "content": "Research tides and waves",' in text


def test_fork_and_rerun_answers_identical_requests_from_the_recording_then_goes_live():
    recorded = record()
    overrides = {
        "agent_configs": [
            {"name": "researcher", "system_prompt": "You research."},
            {"name": "writer", "system_prompt": "You write tersely."},
        ]
    }
    forked = rerun(recorded, tactic=Brief, overrides=overrides, invoker=TestInvoker())
    at = forked.metadata["diverged_at"]
    assert at["agent"] == "writer" and at["call_index"] == 0 and forked.metadata["replayed_calls"] == 3
    assert "You write tersely." in at["diff"]
    assert forked.delivery.startswith("Test answer to: Write a brief from: tides are tidal")
    assert forked.metadata["replay_mode"] == "fork" and CALLS["n"] == 1


def test_recorded_provider_errors_replay_with_their_retry_class():
    recorded = record()
    inv = ReplayInvoker(recorded)
    writer_traces = recorded.agent_sessions["writer"][0].invoke_traces[0]
    assert writer_traces[0].retry_class == "rate_limit" and writer_traces[0].message is None
    assert inv.retry_waits is False


def test_sessions_without_a_registered_tactic_say_how_to_fix_it():
    recorded = record()
    recorded.tactic_path = "pkg::nowhere"
    with pytest.raises(LLLMError, match="no tactic 'pkg::nowhere' is registered"):
        rerun(recorded)


def test_recorded_session_json_carries_what_replay_needs():
    recorded = record()
    d = json.loads(recorded.model_dump_json())
    trace = d["agent_sessions"]["researcher"][0]["invoke_traces"]["0"][0]
    assert trace["model"] == "mock-model" and trace["tools"] == ["lookup"]
    assert [d["message_table"][i]["role"] for i in trace["messages"]] == ["system", "user"]  # stored once, by index
    assert d["schema_version"] == 3


def test_redacted_secrets_in_a_stored_session_still_replay(tmp_path, monkeypatch):
    """A tool argument named like a secret is stored redacted (§9.3); replay matches it to any value."""
    from lllm.logging import sqlite_store

    @tool
    def login(token: str) -> str:
        """Log in."""
        CALLS["n"] += 1
        return "welcome"

    class Login(Tactic, register=False):
        name = "login"
        agent_group = ["user"]

        def call(self, task: str) -> str:
            u = self.agents["user"]
            u.open("main")
            u.receive_prompt(Prompt(path="replay/login", prompt="{t}", function_list=[login]), {"t": task})
            return u.respond().content

    store = sqlite_store(tmp_path / "s.db")
    config = {"global": {"model_name": "m"}, "agent_configs": [{"name": "user", "system_prompt": "u"}]}
    CALLS["n"] = 0
    Login(
        config, log_store=store, invoker=MockInvoker([tool_calls(("login", {"token": "tok-123456789"}, "l1")), "in"])
    )("sign in")
    recorded = store.load_session(store.list_sessions()[0].session_id)
    call = recorded.agent_sessions["user"][0].interrupts[0][0]
    assert call.arguments == {"token": "[REDACTED]"}
    assert rerun(recorded, tactic=Login).delivery == "in" and CALLS["n"] == 1
