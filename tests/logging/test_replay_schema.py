"""Exact replay compares the tool schemas the model saw (the recorded request body), not only tool names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pydantic import BaseModel
from support.report_pipeline import Pipeline

from lllm import Prompt, Tactic, tool
from lllm.errors import LLLMError
from lllm.logging import local_store, sqlite_store
from lllm.logging.replay import rerun


@tool
def lookup(topic: str) -> str:
    """Look up one fact about a topic.

    Args:
        topic: What to look up.
    """
    return f"{topic} is old."


@tool(name="lookup")
def lookup_v2(topic: str, year: int) -> str:
    """Look up one fact about a topic.

    Args:
        topic: What to look up.
        year: The year the fact is about.
    """
    return f"{topic} was old in {year}."


class Ask(Tactic, register=False):
    name = "ask_with_tool"
    agent_group = ["main"]
    tool_fn = lookup

    def call(self, task: str) -> str:
        agent = self.agents["main"]
        agent.open("main")
        agent.receive_prompt(
            Prompt(path="s7b/ask", prompt="Tell me about {topic}.", function_list=[self.tool_fn]), {"topic": task}
        )
        return agent.respond().content


class AskV2(Ask, register=False):
    tool_fn = lookup_v2


def _config(url: str) -> dict:
    args = {"api_base": url, "api_key": "sk-test"}
    return {
        "global": {"model_name": "openai/fake-model", "model_args": args},
        "agent_configs": [{"name": "main", "system_prompt": "You answer."}],
    }


def _recorded(fake_servers, tmp_path):
    store = sqlite_store(tmp_path / "s.db")
    Ask(_config(fake_servers("--latency-ms", "1")), log_store=store)("tides")
    session = store.load_session(store.list_sessions()[0].session_id)
    (trace,) = session.agent_sessions["main"][0].invoke_traces[0]
    assert trace.request["body"]["tools"][0]["function"]["name"] == "lookup"  # the schema the model saw
    return session


def test_an_unchanged_tool_schema_replays_exactly(fake_servers, tmp_path):
    recorded = _recorded(fake_servers, tmp_path)
    replayed = rerun(recorded, tactic=Ask)
    calls = sum(len(ts) for ts in recorded.agent_sessions["main"][0].invoke_traces.values())
    assert replayed.delivery == recorded.delivery and replayed.metadata["replayed_calls"] == calls >= 1


def test_a_changed_tool_schema_stops_an_exact_replay_naming_the_tool(fake_servers, tmp_path):
    recorded = _recorded(fake_servers, tmp_path)
    with pytest.raises(LLLMError) as ei:
        rerun(recorded, tactic=AskV2)
    text = str(ei.value)
    assert "Replay diverged at agent 'main', call #1" in text
    assert "the schema of tool(s) ['lookup'] changed since the recording" in text
    assert '"year"' in text  # the diff shows the new parameter


# -- an old recording (store schema 1, TestInvoker: no request body) still replays ----------------------
V1 = Path(__file__).parent / "fixtures" / "store_v1"
SUCCESS = "20261126_073013_a0b60c6d"


def test_a_version_1_recording_without_request_bodies_still_replays(tmp_path):
    shutil.copytree(V1, tmp_path / "store")  # never write into the fixture
    recorded = local_store(tmp_path / "store").load_session(SUCCESS)
    replayed = rerun(recorded, tactic=Pipeline)
    assert replayed.metadata["diverged_at"] is None and replayed.metadata["replayed_calls"] == 3
    assert replayed.delivery.model_dump() == recorded.delivery


def test_every_providers_tool_shape_reads_back_as_the_live_schema():
    """Anthropic and Responses bodies hold the same schemas in other shapes: no false divergence."""
    from lllm.core.sessions import InvokeTrace
    from lllm.invokers.anthropic import anthropic_tool
    from lllm.invokers.openai import responses_tools
    from lllm.logging.replay import live_tool_schemas, recorded_tool_schemas

    live = live_tool_schemas([lookup_v2])
    for tools in (
        [lookup_v2.to_tool()],
        [anthropic_tool(lookup_v2)],
        responses_tools([lookup_v2.to_tool()], None),
    ):
        trace = InvokeTrace(step=0, model="m", request={"body": {"tools": tools}})
        assert recorded_tool_schemas(trace) == live and "year" in str(live)


# -- a tool whose parameter is a model named like a secret (Token, Credentials) ------------------------
class Token(BaseModel):
    scope: str


@tool
def rotate(token: Token) -> str:
    """Rotate a token.

    Args:
        token: Which token.
    """
    return f"rotated {token.scope}"


class Rotate(Ask, register=False):
    name = "rotate_with_tool"
    tool_fn = rotate


def test_a_parameter_model_named_like_a_secret_keeps_its_schema_and_replays(fake_servers, tmp_path):
    """``$defs`` names are schema names, not fields: the stored request keeps the schema the model saw."""
    store = sqlite_store(tmp_path / "s.db")
    Rotate(_config(fake_servers("--latency-ms", "1")), log_store=store)("tides")
    recorded = store.load_session(store.list_sessions()[0].session_id)
    (trace,) = recorded.agent_sessions["main"][0].invoke_traces[0]
    params = trace.request["body"]["tools"][0]["function"]["parameters"]
    assert params["$defs"]["Token"]["properties"] == {"scope": {"type": "string"}}
    replayed = rerun(recorded, tactic=Rotate)
    assert replayed.delivery == recorded.delivery and replayed.metadata["diverged_at"] is None


def test_a_schema_an_older_lllm_stored_redacted_still_replays():
    """Recordings made before ``$defs`` were kept hold ``"[REDACTED]"`` there: it matches the live schema."""
    from lllm.core.sessions import InvokeTrace
    from lllm.logging.replay import live_tool_schemas, recorded_tool_schemas, same

    tool_json = json.loads(json.dumps(rotate.to_tool()))
    tool_json["function"]["parameters"]["$defs"]["Token"] = "[REDACTED]"
    was = recorded_tool_schemas(InvokeTrace(step=0, request={"body": {"tools": [tool_json]}}))
    assert same(was, live_tool_schemas([rotate])) and not same(was, live_tool_schemas([lookup]))
