"""Server-sent events while a tactic runs, and RemoteTactic against a real server."""

from __future__ import annotations

import http.client
import json
import threading

import pytest
from pydantic import BaseModel
from serve_support import EXAMPLE, served

from lllm import Agent, Tactic
from lllm.errors import AgentCallError
from lllm.serve.app import create_app
from lllm.serve.client import RemoteCall, RemoteTactic


def events(text: str):
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_stream_reports_tokens_agent_calls_tool_calls_and_the_result(start):
    s = start(create_app(served(EXAMPLE)))
    status, headers, text = s.request("POST", "/tactics/travel_brief/stream", {"city": "Oslo", "month": "march"})
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    evs = events(text)
    kinds = [k for k, _ in evs]
    assert kinds[0] == "started" and evs[0][1]["task"] == {"city": "Oslo", "month": "march", "days": 3}
    assert kinds[-1] == "result" and evs[-1][1]["result"]["city"] == "Oslo" and evs[-1][1]["cost"]["agent_calls"] == 2
    tokens = "".join(d["text"] for k, d in evs if k == "token")
    assert "Oslo" in tokens and kinds.count("invoke") == 3  # one per model request
    calls = [d for k, d in evs if k == "agent_call"]
    assert [(c["agent"], c["state"], c["invokes"], c["tactic"]) for c in calls] == [
        ("researcher", "success", 2, "travel_brief"),
        ("writer", "success", 1, "travel_brief"),
    ]
    # live, in the order they happened: the researcher finished before the writer started
    agents = [(k, d["agent"]) for k, d in evs if k in ("agent_started", "agent_call")]
    assert agents == [
        ("agent_started", "researcher"),
        ("agent_call", "researcher"),
        ("agent_started", "writer"),
        ("agent_call", "writer"),
    ]
    assert kinds.index("tool_result") < kinds.index("agent_call")
    tool_call = next(d for k, d in evs if k == "tool_call")
    tool_result = next(d for k, d in evs if k == "tool_result")
    assert tool_call["name"] == "get_climate" and tool_call["agent"] == "researcher"
    assert tool_result["id"] == tool_call["id"] and "Oslo" in tool_result["result"] and tool_result["error"] is None
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("result")


GO = threading.Event()


class Gated(Tactic, register=False):
    """Its agent's tool blocks until the test has seen the tool call on the stream."""

    name = "gated"
    agent_group = ["helper"]

    def call(self, task: str) -> str:
        def wait_for_go(city: str) -> str:
            """Wait for the go signal."""
            return "released" if GO.wait(30) else "never released"

        agent = self.agents["helper"]
        agent.tools = [wait_for_go]
        return agent.run(task)


def read_events(resp):
    """(event, data) pairs of a server-sent event stream as they arrive."""
    block = {}
    while True:
        line = resp.readline().decode()
        if not line:
            return
        if line.strip():
            key, _, value = line.rstrip("\n").partition(": ")
            block[key] = value
        elif block:
            yield block["event"], json.loads(block["data"])
            block = {}


def test_stream_delivers_agent_and_tool_events_while_the_call_runs(start):
    from lllm.serve.tactics import ServedTactic

    config = {"global": {"model_name": "test"}, "agent_configs": [{"name": "helper", "system_prompt": "Help."}]}
    s = start(create_app([ServedTactic.of("gated", Gated(config), model="test")]))
    GO.clear()
    host, port = s.url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("POST", "/tactics/gated/stream", json.dumps("Oslo?"), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        seen = []
        for kind, data in read_events(resp):
            seen.append((kind, data))
            if kind == "tool_call":
                # the tool is blocked until GO is set: this event came while the call runs
                assert [k for k, _ in seen] == ["started", "agent_started", "invoke", "tool_call"]
                assert data["name"] == "wait_for_go" and data["tactic"] == "gated" and not GO.is_set()
                GO.set()
    finally:
        GO.set()
        conn.close()
    kinds = [k for k, _ in seen]
    assert kinds[4:] == ["tool_result", *["token"] * (len(kinds) - 8), "invoke", "agent_call", "result"]
    result = seen[4][1]["result"]
    assert "released" in result and "never released" not in result  # the tool was released by the loop above


def test_stream_ends_with_an_error_event_and_rejects_bad_input(package_dir, start):
    s = start(create_app(served(package_dir)))
    evs = events(s.request("POST", "/tactics/echo/stream", {"topic": "fail"})[2])
    assert [k for k, _ in evs] == ["started", "error"]
    assert evs[1][1]["error"] == "Tactic 'echo' failed: ValueError: the topic 'fail' is refused"
    status, _, text = s.request("POST", "/tactics/echo/stream", {"n": 1})
    assert status == 422 and "topic" in text


def test_stream_times_out_with_an_error_event(package_dir, start):
    from lllm.serve.app import Limits

    s = start(create_app(served(package_dir), limits=Limits(timeout_s=0.2)))
    evs = events(s.request("POST", "/tactics/slow/stream", 30)[2])
    assert [k for k, _ in evs] == ["started", "error"] and evs[1][1]["type"] == "Timeout"
    assert "did not finish within 0.2 s" in evs[1][1]["error"]
    assert s.json("GET", "/healthz")[1]["in_flight"] == 0


class MyResult(BaseModel):
    summary: str
    count: int


async def test_remote_tactic_round_trip_typed(package_dir, start):
    s = start(create_app(served(package_dir)))
    remote = RemoteTactic(s.url, "echo")
    out = await remote.acall({"topic": "ab", "n": 2})
    assert type(out).__name__ == "Result" and out.summary == "abab" and out.count == 2  # rebuilt from the schema
    given = RemoteTactic(s.url, "echo", output_model=MyResult)
    assert await given.acall({"topic": "x"}) == MyResult(summary="x", count=1)
    call = await given.acall({"topic": "y"}, return_session=True)
    assert isinstance(call, RemoteCall) and call.result == MyResult(summary="y", count=1) and call.cost["usd"] == 0
    got = {i: r.summary async for i, r in given.ccall([{"topic": "a"}, {"topic": "b", "n": 2}])}
    assert got == {0: "a", 1: "bb"}
    assert await RemoteTactic(s.url, "slow").acall(0) == "slept 0"


def test_remote_tactic_sync_calls_and_errors(package_dir, start):
    s = start(create_app(served(package_dir), token="tok-0123456789"))
    remote = RemoteTactic(s.url, "echo", token="tok-0123456789", output_model=MyResult)
    assert remote.call({"topic": "q"}).summary == "q"
    assert [r.count for r in remote.bcall([{"topic": "a", "n": 1}, {"topic": "b", "n": 3}])] == [1, 3]
    with pytest.raises(AgentCallError, match="answered 500: Tactic 'echo' failed: ValueError: the topic 'fail'") as e:
        remote.call({"topic": "fail"})
    assert e.value.reason == "remote_error"
    with pytest.raises(AgentCallError, match="answered 422: The body is not a valid Query") as e:
        remote.call({"n": 2})
    assert e.value.reason == "remote_invalid_input" and "(topic: Field required)" in str(e.value)
    assert json.loads(e.value.detail)[0]["loc"] == ["topic"]
    mixed = remote.bcall([{"topic": "ok"}, {"topic": "fail"}], fail_fast=False)
    assert mixed[0].summary == "ok" and isinstance(mixed[1], AgentCallError)
    with pytest.raises(AgentCallError, match="answered 401") as e:
        RemoteTactic(s.url, "echo", output_model=MyResult).call({"topic": "a"})
    assert e.value.reason == "remote_unauthorized"
    with pytest.raises(AgentCallError, match="answered 404: No tactic 'nope' here; tactics: ") as e:
        RemoteTactic(s.url, "nope", token="tok-0123456789").call({})
    assert e.value.reason == "remote_not_found"


def test_the_calling_tactic_records_the_remote_session(package_dir, start, store):
    from lllm import Tactic

    s = start(create_app(served(package_dir, store), store=store))

    class Caller(Tactic, register=False):
        name = "caller"

        def __init__(self, config=None, **kw):
            super().__init__(config, **kw)
            self.remote = RemoteTactic(s.url, "echo", output_model=MyResult)

        def call(self, task):
            first = self.remote.call({"topic": task})  # recorded in the call in progress: no record_in needed
            try:
                self.remote.call({"topic": "fail"})
            except AgentCallError:
                pass
            return first.summary

    seen = []
    session = Caller({}).__call__("hey", return_session=True, on_event=seen.append)
    assert session.delivery == "hey"
    subs = [(type(e).__name__, e.tactic, e.name, getattr(e, "state", None)) for e in seen]
    assert subs == [
        ("SubTacticStarted", "caller", "echo", None),
        ("SubTacticFinished", "caller", "echo", "success"),
        ("SubTacticStarted", "caller", "echo", None),
        ("SubTacticFinished", "caller", "echo", "failure"),
    ]
    assert seen[1].session_id and seen[1].session_id == session.sub_tactic_sessions["echo"][0].session_id
    ok, failed = session.sub_tactic_sessions["echo"]
    assert ok.state == "success" and ok.delivery == {"summary": "hey", "count": 1}
    assert ok.session_id and store.load_session(ok.session_id).delivery["summary"] == "hey"
    assert ok.metadata["remote_url"] == s.url and failed.state == "failure" and "refused" in failed.error


def test_a_remote_tactic_is_a_tool_for_another_agent(package_dir, start):
    s = start(create_app(served(package_dir)))
    tool = RemoteTactic(s.url, "echo").as_function()
    assert tool.name == "echo" and tool.required == ["topic"]
    agent = Agent("caller", model="test", system_prompt="Use the tool.", tools=[tool])
    agent.open("t")
    agent.receive("Repeat something.")
    session = agent.respond(return_session=True)
    (fc,) = [c for calls in session.interrupts.values() for c in calls]
    assert fc.name == "echo" and fc.error_message is None
    assert fc.result == '{"summary":"test topic","count":1}' and fc.arguments["topic"] == "test topic"


def test_a_remote_tool_is_recorded_in_the_calling_tactic_session(package_dir, start, store):
    from lllm import Tactic

    s = start(create_app(served(package_dir, store), store=store))
    remote = RemoteTactic(s.url, "echo")

    class Delegator(Tactic, register=False):
        name = "delegator"

        def call(self, task):
            agent = Agent("caller", model="test", system_prompt="Use the tool.", tools=[remote.as_function("ask_echo")])
            return agent.run(task)

    session = Delegator({})("Repeat something.", return_session=True)
    assert session.state == "success"
    (sub,) = session.sub_tactic_sessions["ask_echo"]  # under the tool's name
    assert sub.tactic_name == "echo" and sub.state == "success" and sub.task["topic"] == "test topic"
    assert store.load_session(sub.session_id).delivery == {"summary": "test topic", "count": 1}
    assert sub.metadata["remote_url"] == s.url and sub.metadata["remote_cost"]["usd"] == 0
    assert RemoteTactic(s.url, "echo").call({"topic": "alone"}).summary == "alone"  # outside a call: nothing to record


def test_remote_ccall_inside_a_tactic_records_each_call(package_dir, start):
    from lllm import Tactic

    s = start(create_app(served(package_dir)))
    remote = RemoteTactic(s.url, "echo", output_model=MyResult)

    class Fanout(Tactic, register=False):
        name = "fanout"

        async def call(self, task):
            return sorted([r.summary async for _, r in remote.ccall([{"topic": t} for t in task])])

    session = Fanout({})(["a", "b", "c"], return_session=True)
    assert session.delivery == ["a", "b", "c"]
    assert sorted(sub.delivery["summary"] for sub in session.sub_tactic_sessions["echo"]) == ["a", "b", "c"]
