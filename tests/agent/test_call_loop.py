"""Every branch of the agent call loop (§3.2), driven by MockInvoker."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import BaseModel

from lllm import Agent, Prompt, Roles, tool
from lllm.core.parsers import DefaultTagParser
from lllm.core.stream import BaseStreamHandler
from lllm.core.tools import Function
from lllm.errors import AgentCallError, LLLMError, ProviderError, ToolBindingError
from lllm.testing import MockInvoker, tool_calls


def make_agent(script, **kw):
    inv = MockInvoker(script)
    agent = Agent(name="bot", system_prompt="You are a bot.", model="mock-model", llm_invoker=inv, **kw)
    agent.open("main")
    return agent, inv


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
async def slow_echo(text: str) -> str:
    """Echo text asynchronously."""
    await asyncio.sleep(0.01)
    return text.upper()


@tool
def explode(reason: str) -> str:
    """Always raises."""
    raise RuntimeError(f"boom: {reason}")


def test_plain_answer_is_delivered_and_appended():
    agent, inv = make_agent(["hello there"])
    agent.receive("hi")
    msg = agent.respond()
    assert msg.content == "hello there" and msg.role == Roles.ASSISTANT and msg.name == "bot"
    assert agent.current_dialog.tail is msg or agent.current_dialog.tail.content == "hello there"
    assert [m.role for m in agent.current_dialog.messages] == [Roles.SYSTEM, Roles.USER, Roles.ASSISTANT]
    assert len(inv.requests) == 1 and inv.requests[0].model == "mock-model"


def test_return_session_records_success_and_trace():
    agent, inv = make_agent(["ok"])
    agent.receive("hi")
    s = agent.respond(return_session=True)
    assert s.state == "success" and s.delivery.content == "ok"
    assert s.invoke_count == 1 and s.ended_at is not None


def test_parse_error_recovers_in_working_dialog_only():
    parser = DefaultTagParser(required_xml_tags=["answer"])
    task = Prompt(path="t/ask", prompt="Answer {q}", parser=parser)
    agent, inv = make_agent(["no tags here", "<answer>42</answer>"])
    agent.receive_prompt(task, {"q": "life"})
    s = agent.respond(return_session=True)
    assert s.delivery.parsed["xml_tags"]["answer"] == ["42"]
    assert s.exception_retries_count == 1 and s.exception_retries[0][0]["type"] == "ParseError"
    # the recovery turn was sent to the model ...
    second = inv.requests[1].messages
    assert second[-2].content == "no tags here"
    assert second[-1].content.startswith("Error: ") and second[-1].content.endswith("Please fix.")
    # ... but never reached the canonical dialog
    contents = [m.content for m in agent.current_dialog.messages]
    assert "no tags here" not in contents and not any(str(c).startswith("Error:") for c in contents)
    assert s.cost.completion_tokens >= 0 and s.invoke_count == 2
    # each attempt records exactly the messages it was sent (§9.3)
    retry = s.invoke_traces[0][1]
    assert [m.content for m in retry.messages][-2:] == ["no tags here", second[-1].content]
    assert (
        retry.model == "mock-model"
        and retry.tools == []
        and s.invoke_traces[0][0].messages[-1].content == "Answer life"
    )


def test_exception_retries_exhausted_fails_with_reason_and_session():
    parser = DefaultTagParser(required_xml_tags=["answer"])
    task = Prompt(path="t/ask2", prompt="Answer", parser=parser)
    agent, inv = make_agent(["bad", "bad", "bad"], max_exception_retry=2)
    agent.receive_prompt(task)
    with pytest.raises(AgentCallError) as ei:
        agent.respond()
    err = ei.value
    assert err.reason == "exception_retries" and isinstance(err, ValueError)
    assert err.session.state == "failure" and err.session.invoke_count == 3
    assert "bot" in str(err) and "exception retries 2/2" in str(err)
    assert err.__cause__.__class__.__name__ == "ParseError"
    assert len(agent.current_dialog.messages) == 2  # nothing invalid was appended


class Answer(BaseModel):
    value: int


def test_format_validation_failure_triggers_retry():
    task = Prompt(path="t/fmt", prompt="Give a number", format=Answer)
    agent, inv = make_agent(['{"value": "nope"}', '```json\n{"value": 7}\n```'])
    agent.receive_prompt(task)
    msg = agent.respond()
    assert msg.parsed_as(Answer).value == 7
    assert len(inv.requests) == 2


def test_tool_calls_execute_and_results_are_answered_once_each():
    task = Prompt(path="t/tools", prompt="Add numbers", function_list=[add, slow_echo])
    agent, inv = make_agent(
        [
            tool_calls(("add", {"a": 2, "b": 3}, "c1"), ("slow_echo", {"text": "hi"}, "c2")),
            "the sum is 5",
        ]
    )
    agent.receive_prompt(task)
    s = agent.respond(return_session=True)
    assert s.delivery.content == "the sum is 5"
    executed = s.interrupts[0]
    assert [c.result for c in executed] == [5, "HI"]
    msgs = agent.current_dialog.messages
    tool_msgs = [m for m in msgs if m.role == Roles.TOOL]
    assert [m.metadata["tool_call_id"] for m in tool_msgs] == ["c1", "c2"]
    assert "Return of calling function add" in tool_msgs[0].content
    # the follow-up request offered the tools again and carried both results
    assert inv.requests[1].tools == ["add", "slow_echo"]
    assert msgs[2].role == Roles.TOOL_CALL and msgs[2].name == "bot"


def test_tool_error_and_unknown_tool_are_fed_back_as_results():
    task = Prompt(path="t/tools2", prompt="Go", function_list=[explode, add])
    agent, inv = make_agent(
        [
            tool_calls(("explode", {"reason": "x"}, "e1"), ("nope", {}, "e2")),
            "done",
        ]
    )
    agent.receive_prompt(task)
    s = agent.respond(return_session=True)
    calls = s.interrupts[0]
    assert calls[0].error_message == "boom: x" and calls[0].result_str == "Error: boom: x"
    assert calls[1].result_str == "Error: no tool 'nope'. Available: ['add', 'explode']"


def test_repeated_call_is_not_executed_again():
    counter = {"n": 0}

    @tool
    def tick(label: str) -> int:
        """Count calls."""
        counter["n"] += 1
        return counter["n"]

    task = Prompt(path="t/rep", prompt="Go", function_list=[tick])
    agent, inv = make_agent(
        [
            tool_calls(("tick", {"label": "a"}, "r1")),
            tool_calls(("tick", {"label": "a"}, "r2")),
            "done",
        ]
    )
    agent.receive_prompt(task)
    s = agent.respond(return_session=True)
    assert counter["n"] == 1
    assert "already made earlier" in s.interrupts[1][0].result_str


def test_malformed_tool_arguments_trigger_exception_retry():
    task = Prompt(path="t/badargs", prompt="Go", function_list=[add])
    agent, inv = make_agent([tool_calls(("add", "{not json", "m1")), tool_calls(("add", {"a": 1, "b": 1}, "m2")), "2"])
    agent.receive_prompt(task)
    s = agent.respond(return_session=True)
    assert s.exception_retries_count == 1 and "malformed JSON" in s.exception_retries[0][0]["message"]
    assert s.delivery.content == "2"


def test_interrupt_budget_sends_final_prompt_without_tools():
    task = Prompt(path="t/budget", prompt="Go", function_list=[add])
    agent, inv = make_agent(
        [tool_calls(("add", {"a": 1, "b": i}, f"b{i}")) for i in range(2)] + ["final"], max_interrupt_steps=2
    )
    agent.receive_prompt(task)
    msg = agent.respond()
    assert msg.content == "final"
    assert inv.requests[2].tools == []  # the final invocation offers no tools
    last_user = [m for m in inv.requests[2].messages if m.role == Roles.USER][-1]
    assert "limit of tool calls" in last_user.content


def test_tool_calls_after_final_prompt_fail_with_max_steps():
    task = Prompt(path="t/budget2", prompt="Go", function_list=[add])
    agent, _ = make_agent([tool_calls(("add", {"a": 1, "b": i}, f"x{i}")) for i in range(3)], max_interrupt_steps=2)
    agent.receive_prompt(task)
    with pytest.raises(AgentCallError) as ei:
        agent.respond()
    assert ei.value.reason == "max_steps"


def test_rate_limit_retries_then_succeeds_and_counts_attempts():
    rl = ProviderError("429 slow down", status=429, kind="rate_limit", retry_after=0.0)
    agent, inv = make_agent([rl, rl, "ok"], rate_limit_retries=2)
    agent.receive("hi")
    s = agent.respond(return_session=True)
    assert s.delivery.content == "ok" and s.rate_limit_retries_count == 2 and s.invoke_count == 3


def test_rate_limit_budget_exhausted_is_llm_error_with_cause():
    rl = ProviderError("429 slow down", status=429, kind="rate_limit")
    agent, inv = make_agent([rl] * 3, rate_limit_retries=2)
    agent.receive("hi")
    with pytest.raises(AgentCallError) as ei:
        agent.respond()
    assert ei.value.reason == "llm_error" and ei.value.__cause__ is rl
    assert "rate_limit_retries=2" in str(ei.value) and len(inv.requests) == 3


def test_retry_after_is_honoured_when_larger_than_backoff():
    rl = ProviderError("429", status=429, kind="rate_limit", retry_after=0.3)
    agent, _ = make_agent([rl, "ok"])
    agent.receive("hi")
    t0 = time.perf_counter()
    s = agent.respond(return_session=True)
    assert time.perf_counter() - t0 >= 0.3 and s.rate_limit_waits[0] == [0.3]


def test_transient_errors_use_the_recall_budget():
    tr = ProviderError("502 bad gateway", status=502, kind="transient")
    agent, _ = make_agent([tr, "ok"], max_llm_recall=1)
    agent.receive("hi")
    s = agent.respond(return_session=True)
    assert s.llm_recalls_count == 1 and s.delivery.content == "ok"
    agent2, _ = make_agent([tr, "ok"], max_llm_recall=0)  # no recall budget: fatal at once
    agent2.receive("hi")
    with pytest.raises(AgentCallError) as ei:
        agent2.respond()
    assert ei.value.reason == "llm_error" and "max_llm_recall=0" in str(ei.value)
    agent3, _ = make_agent([tr, tr, "ok"])  # the default (2, was 0 in lllm-core 0.1.x) survives two
    agent3.receive("hi")
    s = agent3.respond(return_session=True)
    assert s.max_llm_recall == 2 and s.llm_recalls_count == 2 and s.delivery.content == "ok"


@pytest.mark.parametrize("text", ["No API key for provider 'openai': set OPENAI_API_KEY.", "401 Unauthorized"])
def test_the_failure_message_ends_the_provider_sentence_once(text):
    agent, _ = make_agent([ProviderError(text, status=401, kind=None), "never"])
    agent.receive("hi")
    with pytest.raises(AgentCallError) as ei:
        agent.respond()
    message = str(ei.value)
    assert f"provider error: ProviderError: {text.rstrip('.')}. (exception retries" in message
    assert ".." not in message


def test_unclassified_errors_are_fatal_and_never_escape_raw():
    agent, inv = make_agent([KeyError("framework bug"), "never"])
    agent.receive("hi")
    with pytest.raises(AgentCallError) as ei:
        agent.respond()
    assert isinstance(ei.value.__cause__, KeyError) and len(inv.requests) == 1
    assert ei.value.session.invoke_traces[0][0].errors[0]["type"] == "KeyError"


def test_exhausted_mock_script_is_an_agent_call_error():
    agent, _ = make_agent([])
    agent.receive("hi")
    with pytest.raises(AgentCallError) as ei:
        agent.respond()
    assert isinstance(ei.value.__cause__, LLLMError) and "script exhausted" in str(ei.value.__cause__)


def test_unbound_tool_fails_before_any_invocation():
    header = Function(name="search", description="Search", properties={"q": {"type": "string"}}, required=["q"])
    task = Prompt(path="t/unbound", prompt="Go", function_list=[header])
    agent, inv = make_agent(["never"])
    agent.receive_prompt(task)
    with pytest.raises(ToolBindingError):
        agent.respond()
    assert inv.requests == []


def test_args_override_model_args_and_metadata_is_attached():
    agent, inv = make_agent(["ok"], model_args={"temperature": 0.1, "top_p": 0.5})
    agent.receive("hi")
    msg = agent.respond(args={"temperature": 0.9}, metadata={"trace": "t1"})
    assert inv.requests[0].model_args == {"temperature": 0.9, "top_p": 0.5}
    assert msg.metadata["trace"] == "t1"
    assert agent.model_args == {"temperature": 0.1, "top_p": 0.5}


def test_stream_handler_receives_text():
    chunks = []

    class H(BaseStreamHandler):
        def on_token(self, text):
            chunks.append(text)

    agent, _ = make_agent(["streamed text"], stream_handler=H())
    agent.receive("hi")
    agent.respond()
    assert "".join(chunks) == "streamed text"


def test_concurrent_respond_on_one_agent_is_refused():
    class SlowInvoker(MockInvoker):
        async def acall(self, *a, **kw):
            await asyncio.sleep(0.1)
            return self.call(*a, **kw)

    agent = Agent(name="bot", system_prompt="s", model="m", llm_invoker=SlowInvoker(["slow", "fast"]))
    agent.open("main")
    agent.receive("hi")

    async def main():
        first = asyncio.ensure_future(agent.arespond())
        await asyncio.sleep(0.01)
        with pytest.raises(RuntimeError, match="already responding"):
            await agent.arespond()
        assert (await first).content == "slow"

    asyncio.run(main())


def test_arespond_runs_in_the_callers_loop():
    agent, _ = make_agent(["async ok"])
    agent.receive("hi")
    assert asyncio.run(agent.arespond()).content == "async ok"


def test_dialog_management_errors():
    agent, _ = make_agent([])
    with pytest.raises(ValueError, match=r"\.fork"):
        agent.open("main")
    with pytest.raises(KeyError, match="main"):
        agent.switch("other")
    agent.fork("main", "branch")
    assert agent.active_alias == "branch"
    with pytest.raises(ValueError):
        agent.fork("main", "branch")
    agent.close("branch")
    assert agent.active_alias is None
    with pytest.raises(RuntimeError, match=r"call \.open\(alias\) or \.switch\(alias\) first"):
        _ = agent.current_dialog


def test_negative_limits_are_rejected():
    with pytest.raises(ValueError, match="max_exception_retry"):
        Agent(name="x", system_prompt="s", model="m", llm_invoker=MockInvoker([]), max_exception_retry=-1)


def test_call_refuses_a_dialog_owned_by_another_agent():
    a, _ = make_agent(["x"])
    b = Agent(name="other", system_prompt="s", model="m", llm_invoker=MockInvoker(["y"]))
    with pytest.raises(ValueError, match="belongs to agent 'bot', not 'other'"):
        b.call(a.current_dialog)


def test_zero_interrupt_steps_means_a_budget_of_100_with_warning():
    agent, _ = make_agent(["ok"], max_interrupt_steps=0)
    agent.receive("hi")
    with pytest.warns(UserWarning, match="100"):
        agent.respond()


def test_session_cost_includes_failed_attempts():
    from lllm.core.message import Message

    parser = DefaultTagParser(required_xml_tags=["a"])
    bad = Message(
        role=Roles.ASSISTANT, content="bad", usage={"prompt_tokens": 10, "completion_tokens": 5, "cost": 0.01}
    )
    good = Message(
        role=Roles.ASSISTANT, content="<a>1</a>", usage={"prompt_tokens": 12, "completion_tokens": 3, "cost": 0.02}
    )
    agent, _ = make_agent([bad, good])
    agent.receive_prompt(Prompt(path="t/cost", prompt="go", parser=parser))
    s = agent.respond(return_session=True)
    assert s.cost.prompt_tokens == 22 and abs(s.cost.cost - 0.03) < 1e-12
