"""Session 7 review: RemoteTactic against servers that are slow, wrong or go away."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel
from serve_support import served

from lllm import Tactic
from lllm.errors import AgentCallError
from lllm.serve.app import create_app
from lllm.serve.client import RemoteTactic


def test_a_client_timeout_is_reported_as_a_timeout_naming_the_limit(package_dir, start):
    s = start(create_app(served(package_dir)))
    with pytest.raises(AgentCallError) as err:
        RemoteTactic(s.url, "slow", timeout=0.3).call(30)
    assert err.value.reason == "remote_timeout"  # the server is reachable: it is slow
    assert "did not answer within 0.3 s" in str(err.value)


class Strict(BaseModel):
    summary: int  # the served echo answers a string here


def _caller(remote: RemoteTactic) -> Tactic:
    class Caller(Tactic, register=False):
        name = "caller"

        async def call(self, task):
            return await remote.acall(task)

    return Caller({})


async def test_a_cancelled_remote_call_is_recorded_and_reported_finished(package_dir, start, store):
    s = start(create_app(served(package_dir)))
    seen = []
    caller = _caller(RemoteTactic(s.url, "slow"))
    caller.log_store = store
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(caller.acall(60, on_event=seen.append), 0.5)
    kinds = [(type(e).__name__, e.name) for e in seen if "SubTactic" in type(e).__name__]
    assert kinds == [("SubTacticStarted", "slow"), ("SubTacticFinished", "slow")]  # observers see it end
    (row,) = store.list_sessions(limit=None)
    (sub,) = store.load_session(row.session_id).sub_tactic_sessions["slow"]
    assert sub.state == "failure" and "CancelledError" in sub.error


def test_a_result_that_does_not_fit_the_output_model_is_recorded_as_the_failure(package_dir, start):
    s = start(create_app(served(package_dir)))
    seen = []
    with pytest.raises(Exception) as err:
        _caller(RemoteTactic(s.url, "echo", output_model=Strict))({"topic": "x"}, on_event=seen.append)
    kinds = [(type(e).__name__, getattr(e, "state", None)) for e in seen if "SubTactic" in type(e).__name__]
    assert kinds == [("SubTacticStarted", None), ("SubTacticFinished", "failure")], err.value
