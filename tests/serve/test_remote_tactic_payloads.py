"""Session 7 review (c): a remote result that does not fit the output model raised pydantic's ValidationError,
not the AgentCallError of every other remote failure, so ``ccall(return_exceptions=True)`` stopped on it."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from serve_support import served

from lllm.errors import AgentCallError
from lllm.serve.app import create_app
from lllm.serve.client import RemoteTactic


class Strict(BaseModel):
    summary: int  # the served echo answers a string here
    count: int


def test_a_result_that_does_not_fit_the_output_model_is_an_agent_call_error(package_dir, start):
    s = start(create_app(served(package_dir)))
    remote = RemoteTactic(s.url, "echo", output_model=Strict)
    with pytest.raises(AgentCallError) as err:
        remote.call({"topic": "x"})
    assert err.value.reason == "remote_invalid_output"
    assert "'echo'" in str(err.value) and "summary" in str(err.value)
    out = remote.bcall([{"topic": "a"}, {"topic": "b"}], fail_fast=False)  # return_exceptions: each slot says why
    assert [type(r).__name__ for r in out] == ["AgentCallError", "AgentCallError"]


class Topic(BaseModel):
    topic: str


def test_a_task_holding_models_or_dates_is_sent_as_json(package_dir, start):
    import datetime as dt

    s = start(create_app(served(package_dir)))
    out = RemoteTactic(s.url, "echo").call({"topic": "ab", "n": 2})
    assert out.summary == "abab"
    # an untyped tactic takes any JSON: a dict of models and dates is sent as pydantic would dump it
    remote = RemoteTactic(s.url, "leaky")
    session = remote.call([Topic(topic="x"), {"when": dt.date(2026, 1, 2)}], return_session=True)
    assert session.result == {"key": "[REDACTED]"}
