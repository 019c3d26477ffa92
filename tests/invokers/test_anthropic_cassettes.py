"""AnthropicInvoker against recorded Anthropic Messages exchanges replayed by a local HTTP server.

Each test builds the Dialog the recording implies, calls the invoker, and checks both sides: the
request the invoker sent (compared with the recorded ``parsed_body`` on the fields that matter)
and the Message / usage / cost it made from the recorded answer."""

from __future__ import annotations

import base64
import copy
import io
import subprocess
import sys

import pytest
from support.cassette_server import CassetteServer, load_cassette

from lllm.core.const import Modalities, Roles
from lllm.core.dialog import Dialog
from lllm.core.message import Message
from lllm.core.prompt import Prompt
from lllm.core.tools import Function
from lllm.errors import ProviderError
from lllm.invokers.anthropic import THINKING_KEY, AnthropicInvoker
from lllm.invokers.pricing import price_usage

A = "anthropic/"
SYS = "You are a helpful assistant.\n\n"  # as recorded (a YAML "|+" block keeps both newlines)


def args_for(server, **extra):
    return {"api_base": server.url, "api_key": "sk-ant-test", **extra}


def dialog(user: str, system: str = None, prompt: Prompt = None) -> Dialog:
    d = Dialog()
    if system is not None:
        d.append(Message(role=Roles.SYSTEM, content=system, name="system"))
    d.put_text(user)
    if prompt is not None:
        d.top_prompt = prompt
    return d


def tool_result(d: Dialog, call_id: str, content: str, name: str = "tool") -> None:
    d.append(Message(role=Roles.TOOL, content=content, name=name, metadata={"tool_call_id": call_id}))


def recorded_messages(server, i):
    """The recorded request's messages, without the default ``is_error: false`` of tool results."""
    msgs = copy.deepcopy(server.recorded_request(i)["messages"])
    for m in msgs:
        for b in m["content"]:
            if b.get("type") == "tool_result" and b.get("is_error") is False:
                del b["is_error"]
    return msgs


def sent(server, i):
    return server.requests[i]["json"]


def schema_core(s):
    return {k: v for k, v in s.items() if not (k == "required" and v == [])}


def assert_tools_match(sent_tools, recorded_tools):
    assert [t["name"] for t in sent_tools] == [t["name"] for t in recorded_tools]
    for got, rec in zip(sent_tools, recorded_tools):
        assert schema_core(got["input_schema"]) == schema_core(rec["input_schema"])
        if rec.get("description"):
            assert got["description"] == rec["description"]
        assert set(got) == {"name", "description", "input_schema"}


async def test_plain_text_usage_and_cost(cassette):
    server = cassette("anthropic/test_anthropic_model_instructions.yaml")
    d = dialog("What is the capital of France?", system=SYS)
    res = await AnthropicInvoker().acall(d, A + "claude-3-opus-latest", args_for(server))
    server.assert_all_served()
    body, rec = sent(server, 0), server.recorded_request(0)
    for key in ("model", "max_tokens", "system", "messages", "stream"):
        assert body[key] == rec[key], key
    assert "tools" not in body and "tool_choice" not in body
    h = server.requests[0]["headers"]
    assert h["x-api-key"] == "sk-ant-test" and h["anthropic-version"] == "2023-06-01"
    assert server.requests[0]["path"] == "/v1/messages"

    m = res.message
    assert m.role == Roles.ASSISTANT and m.content == "The capital of France is Paris."
    assert m.model == "claude-3-opus-20240229" and m.metadata["finish_reason"] == "end_turn"
    assert THINKING_KEY not in m.metadata and not res.has_errors
    assert m.usage["prompt_tokens"] == 20 and m.usage["completion_tokens"] == 10
    assert m.usage["total_tokens"] == 30 and m.usage["cached_prompt_tokens"] == 0
    expected = price_usage(
        "anthropic", "claude-3-opus-20240229", {"prompt_tokens": 20, "completion_tokens": 10, "cached_prompt_tokens": 0}
    )
    assert res.cost.cost == pytest.approx(expected["cost"]) and res.cost.cost > 0
    assert res.raw_response["id"] == "msg_01Fg1JVgvCYUHWsxrj9GkpEv"
    assert res.request["provider"] == "anthropic" and res.request["model"] == "claude-3-opus-latest"
    assert res.request["url"] == server.url + "/v1/messages" and res.request["stream"] is False
    assert res.request["body"] == body and res.request["api_type"] == "completion"
    assert "sk-ant-test" not in repr(res.request) and "sk-ant-test" not in repr(res.model_args)
    assert res.model_args["max_tokens"] == 4096  # the injected default is recorded as sent
    assert res.started_at > 0 and res.latency_s > 0


def test_sync_call_and_cache_tokens(cassette):
    interactions = load_cassette("anthropic/test_anthropic_model_instructions.yaml")
    usage = interactions[0]["response"]["parsed_body"]["usage"]
    usage.update(input_tokens=5, cache_read_input_tokens=10, cache_creation_input_tokens=5)
    with CassetteServer(interactions) as server:
        d = dialog("What is the capital of France?", system=SYS)
        res = AnthropicInvoker().call(d, "claude-3-opus-latest", args_for(server))
    assert res.message.content == "The capital of France is Paris."
    assert res.message.usage["prompt_tokens"] == 20 and res.message.usage["cached_prompt_tokens"] == 10
    assert res.message.usage["cache_write_tokens"] == 5


async def test_stop_sequence(cassette):
    server = cassette("anthropic/test_stop_settings[anthropic].yaml")
    d = dialog(
        'What is the capital of France? Give me an answer that contains the word "Paris", but is not the first word.'
    )
    res = await AnthropicInvoker().acall(d, "claude-sonnet-4-5", args_for(server, max_tokens=1024, stop="Paris"))
    body, rec = sent(server, 0), server.recorded_request(0)
    assert body["stop_sequences"] == rec["stop_sequences"] == ["Paris"] and "stop" not in body
    assert body["max_tokens"] == 1024 and body["messages"] == rec["messages"] and "system" not in body
    assert res.message.content == "The beautiful city of "
    assert res.message.metadata["finish_reason"] == "stop_sequence"
    assert res.message.metadata["stop_sequence"] == "Paris"


async def test_single_tool_call_round_trip(cassette):
    server = cassette("anthropic/test_anthropic_text_output_function.yaml")
    fn = Function("get_user_country", "", {})
    d = dialog(
        "What is the largest city in the user country? Use the get_user_country tool and then your own world knowledge."
    )
    inv = AnthropicInvoker()
    res = await inv.acall(d, A + "claude-sonnet-4-5", args_for(server), functions=[fn])
    assert_tools_match(sent(server, 0)["tools"], server.recorded_request(0)["tools"])
    assert sent(server, 0)["messages"] == recorded_messages(server, 0)
    m = res.message
    assert m.role == Roles.TOOL_CALL and m.modality == Modalities.FUNCTION_CALL
    assert m.content.startswith("I'll help find the largest city")
    assert [(c.id, c.name, c.arguments) for c in m.function_calls] == [
        ("toolu_01JJ8TequDsrEU2pv1QFRWAK", "get_user_country", {})
    ]
    assert m.metadata["finish_reason"] == "tool_use"

    d.append(m)
    tool_result(d, "toolu_01JJ8TequDsrEU2pv1QFRWAK", "Mexico", name="get_user_country")
    res2 = await inv.acall(d, A + "claude-sonnet-4-5", args_for(server), functions=[fn])
    server.assert_all_served()
    assert sent(server, 1)["messages"] == recorded_messages(server, 1)
    assert res2.message.role == Roles.ASSISTANT and "Mexico City" in res2.message.content
    assert res2.message.usage["prompt_tokens"] == 460 and res2.message.usage["completion_tokens"] == 91


async def test_parallel_tool_calls_results_merged_in_one_user_turn(cassette):
    server = cassette("anthropic/test_multiple_parallel_tool_calls.yaml")
    rec0 = server.recorded_request(0)
    fn = Function(
        "retrieve_entity_info", "Get the knowledge about the given entity.", {"name": {"type": "string"}}, ["name"]
    )
    d = dialog("Alice, Bob, Charlie and Daisy are a family. Who is the youngest?", system=rec0["system"])
    d.top_prompt = Prompt("family", "", function_list=[fn])  # tools from the top prompt
    inv = AnthropicInvoker()
    res = await inv.acall(d, A + "claude-haiku-4-5", args_for(server))
    body = sent(server, 0)
    assert body["system"] == rec0["system"] and body["messages"] == recorded_messages(server, 0)
    assert_tools_match(body["tools"], rec0["tools"])
    calls = res.message.function_calls
    assert [c.arguments["name"] for c in calls] == ["Alice", "Bob", "Charlie", "Daisy"]

    d.append(res.message)
    answers = [
        "alice is bob's wife",
        "bob is alice's husband",
        "charlie is alice's son",
        "daisy is bob's daughter and charlie's younger sister",
    ]
    for c, text in zip(calls, answers):
        tool_result(d, c.id, text, name=c.name)
    res2 = await inv.acall(d, A + "claude-haiku-4-5", args_for(server))
    server.assert_all_served()
    msgs = sent(server, 1)["messages"]
    assert msgs == recorded_messages(server, 1)
    assert len(msgs) == 3 and [b["type"] for b in msgs[2]["content"]] == ["tool_result"] * 4
    assert "Daisy" in res2.message.content


async def test_sequential_tool_run_over_three_requests(cassette):
    server = cassette("anthropic/test_anthropic_mixed_strict_tool_run.yaml")
    rec0 = server.recorded_request(0)
    fns = [
        Function("country_source", "", {}),
        Function("capital_lookup", "", {"country": {"type": "string"}}, ["country"], strict=False),
    ]
    d = dialog("Use the registered tools and respond exactly as `Capital: <city>`.", system=rec0["system"])
    inv = AnthropicInvoker()
    results = ["Japan", "Tokyo"]
    for step in range(3):
        res = await inv.acall(d, A + "claude-sonnet-4-5", args_for(server), functions=fns)
        body = sent(server, step)
        assert body["messages"] == recorded_messages(server, step), step
        assert body["system"] == rec0["system"]
        assert_tools_match(body["tools"], server.recorded_request(step)["tools"])
        d.append(res.message)
        if step < 2:
            (call,) = res.message.function_calls
            tool_result(d, call.id, results[step], name=call.name)
    server.assert_all_served()
    assert res.message.content == "Capital: Tokyo" and res.message.role == Roles.ASSISTANT
    assert d.messages[4].function_calls[0].arguments == {"country": "Japan"}
    assert d.messages[4].content == ""  # a tool_use-only turn has no text


async def test_native_structured_output(cassette):
    server = cassette("anthropic/test_anthropic_native_output_decimal_strict.yaml")
    rec = server.recorded_request(0)
    prompt = Prompt(
        "payment", "Return exactly this payment amount: 12.34", format=rec["output_config"]["format"]["schema"]
    )
    d = Dialog()
    d.put_prompt(prompt)
    res = await AnthropicInvoker().acall(d, A + "claude-sonnet-4-5", args_for(server))
    body = sent(server, 0)
    assert body["output_config"] == rec["output_config"] and body["messages"] == rec["messages"]
    assert "response_format" not in body
    assert not res.has_errors
    assert res.message.parsed == {"amount": 12.34}  # exactly the model_dump (SPEC §2.4)


async def test_structured_output_merges_with_model_args_output_config(cassette):
    server = cassette("anthropic/test_anthropic_native_output_decimal_strict.yaml")
    rec = server.recorded_request(0)
    prompt = Prompt(
        "payment", "Return exactly this payment amount: 12.34", format=rec["output_config"]["format"]["schema"]
    )
    d = Dialog()
    d.put_prompt(prompt)
    await AnthropicInvoker().acall(d, A + "claude-sonnet-4-5", args_for(server, output_config={"effort": "low"}))
    assert sent(server, 0)["output_config"] == {"effort": "low", **rec["output_config"]}


async def test_invalid_structured_output_is_an_execution_error(cassette):
    interactions = load_cassette("anthropic/test_anthropic_native_output_decimal_strict.yaml")
    interactions[0]["response"]["parsed_body"]["content"][0]["text"] = '{"amount": [1]}'
    with CassetteServer(interactions) as server:
        prompt = Prompt(
            "payment",
            "Return exactly this payment amount: 12.34",
            format=interactions[0]["request"]["parsed_body"]["output_config"]["format"]["schema"],
        )
        d = Dialog()
        d.put_prompt(prompt)
        res = await AnthropicInvoker().acall(d, A + "claude-sonnet-4-5", args_for(server))
    assert res.has_errors and res.message.content == '{"amount": [1]}'


async def test_thinking_kept_in_metadata_and_replayed(cassette):
    server = cassette("anthropic/test_anthropic_model_thinking_part.yaml")
    rec0 = server.recorded_request(0)
    margs = args_for(server, thinking=rec0["thinking"])
    d = dialog("How do I cross the street?")
    inv = AnthropicInvoker()
    res = await inv.acall(d, A + "claude-sonnet-4-5", margs)
    body = sent(server, 0)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024} and body["max_tokens"] == 4096
    m = res.message
    (block,) = m.metadata[THINKING_KEY]
    assert block["type"] == "thinking" and block["signature"].startswith("Eq8CCkYICxgCKkDd")
    assert block["thinking"] not in m.content and m.content.startswith("Here's how to cross the street safely")

    d.append(m)
    d.put_text("Considering the way to cross the street, analogously, how do I cross the river?")
    res2 = await inv.acall(d, A + "claude-sonnet-4-5", margs)
    server.assert_all_served()
    assert sent(server, 1)["messages"] == recorded_messages(server, 1)
    assert res2.message.metadata[THINKING_KEY][0]["thinking"].startswith("This is an interesting analogy")


async def test_thinking_with_tool_use_replays_thinking_before_tool_use(cassette):
    server = cassette("anthropic/test_anthropic_tool_with_thinking.yaml")
    margs = args_for(server, thinking={"type": "enabled", "budget_tokens": 3000})
    fn = Function("get_user_country", "", {})
    d = dialog("What is the largest city in the user country?")
    inv = AnthropicInvoker()
    res = await inv.acall(d, A + "claude-sonnet-4-0", margs, functions=[fn])
    m = res.message
    assert m.role == Roles.TOOL_CALL and m.function_calls[0].id == "toolu_01YGzqpRE16Vricda3Aqcejo"
    assert (
        m.content == "I'll help you find the largest city in your country. First, let me determine which "
        "country you're from."
    )
    d.append(m)
    tool_result(d, m.function_calls[0].id, "Mexico")
    res2 = await inv.acall(d, A + "claude-sonnet-4-0", margs, functions=[fn])
    server.assert_all_served()
    msgs = sent(server, 1)["messages"]
    assert msgs == recorded_messages(server, 1)
    assert [b["type"] for b in msgs[1]["content"]] == ["thinking", "text", "tool_use"]
    assert "Mexico City" in res2.message.content


async def test_no_tools_offered_with_tool_history(cassette):
    """``functions=[]`` sends no callable tools; the history's tools are declared with tool_choice none."""
    interactions = load_cassette("anthropic/test_anthropic_text_output_function.yaml")[1:]
    with CassetteServer(interactions) as server:
        d = dialog("What is the largest city in the user country?")
        d.append(
            Message(
                role=Roles.TOOL_CALL,
                content="Let me check.",
                name="assistant",
                function_calls=[{"id": "toolu_1", "name": "get_user_country", "arguments": {}}],
            )
        )
        tool_result(d, "toolu_1", "Mexico")
        d.put_text("You are reaching the limit of tool calls. Provide the final response.")
        res = await AnthropicInvoker().acall(d, A + "claude-sonnet-4-5", args_for(server), functions=[])
        body = server.requests[0]["json"]
    assert body["tool_choice"] == {"type": "none"}
    assert [t["name"] for t in body["tools"]] == ["get_user_country"]
    assert [b["type"] for b in body["messages"][2]["content"]] == ["tool_result", "text"]
    assert res.message.role == Roles.ASSISTANT


async def test_no_tools_at_all(cassette):
    server = cassette("anthropic/test_anthropic_model_instructions.yaml")
    d = dialog("What is the capital of France?", system=SYS)
    d.top_prompt = Prompt("p", "", function_list=[Function("unused", "x", {})])
    await AnthropicInvoker().acall(
        d, A + "claude-3-opus-latest", args_for(server, tool_choice="required"), functions=[]
    )
    body = sent(server, 0)
    assert "tools" not in body and "tool_choice" not in body


async def test_image_input_sends_caption_then_base64_with_true_media_type(cassette):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 180, 60)).save(buf, format="JPEG")
    server = cassette("anthropic/test_image_url_input.yaml")
    rec = server.recorded_request(0)
    d = Dialog()
    d.put_image(buf.getvalue(), caption="What is this vegetable?")
    res = await AnthropicInvoker().acall(d, A + "claude-haiku-4-5", args_for(server))
    (turn,) = sent(server, 0)["messages"]
    text, image = turn["content"]
    assert turn["role"] == "user" and text == rec["messages"][0]["content"][0]
    assert image["type"] == rec["messages"][0]["content"][1]["type"] == "image"
    assert image["source"] == {
        "type": "base64",
        "media_type": "image/jpeg",
        "data": base64.b64encode(buf.getvalue()).decode(),
    }
    assert "potato" in res.message.content


async def test_error_400_is_fatal_with_provider_message(cassette):
    server = cassette("anthropic/test_anthropic_explicit_effort_xhigh_unsupported_model_errors.yaml")
    inv = AnthropicInvoker()
    with pytest.raises(ProviderError) as ei:
        await inv.acall(
            dialog("What is 2+2?"), A + "claude-opus-4-6", args_for(server, output_config={"effort": "xhigh"})
        )
    e = ei.value
    assert e.status == 400 and e.kind is None and inv.classify_error(e) is None
    assert "This model does not support effort level 'xhigh'" in str(e) and "invalid_request_error" in str(e)
    assert sent(server, 0)["output_config"] == {"effort": "xhigh"}


async def test_error_404_is_fatal_with_provider_message():
    interactions = load_cassette("anthropic/test_anthropic_count_tokens_error.yaml")
    interactions[0]["request"]["uri"] = "https://api.anthropic.com/v1/messages"
    with CassetteServer(interactions) as server:
        with pytest.raises(ProviderError) as ei:
            await AnthropicInvoker().acall(dialog("hello"), A + "claude-does-not-exist", args_for(server))
    assert ei.value.status == 404 and ei.value.kind is None
    assert "model: claude-does-not-exist" in str(ei.value) and "not_found_error" in str(ei.value)


def _error_interaction(status, etype, message, headers=None):
    return [
        {
            "request": {"method": "POST", "uri": "https://api.anthropic.com/v1/messages"},
            "response": {
                "status": {"code": status},
                "headers": headers or {},
                "parsed_body": {"type": "error", "error": {"type": etype, "message": message}},
            },
        }
    ]


@pytest.mark.parametrize(
    "status,etype,kind",
    [(429, "rate_limit_error", "rate_limit"), (529, "overloaded_error", "transient"), (500, "api_error", "transient")],
)
async def test_retryable_errors(status, etype, kind):
    with CassetteServer(_error_interaction(status, etype, "Try later", {"retry-after": ["7"]})) as server:
        with pytest.raises(ProviderError) as ei:
            await AnthropicInvoker().acall(dialog("hi"), A + "claude-sonnet-4-5", args_for(server))
    assert ei.value.kind == kind and ei.value.status == status and "Try later" in str(ei.value)
    assert ei.value.retry_after == 7.0


async def test_missing_api_key_names_the_env_var(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ProviderError) as ei:
        await AnthropicInvoker().acall(dialog("hi"), A + "claude-sonnet-4-5", {})
    assert ei.value.kind is None and "ANTHROPIC_API_KEY" in str(ei.value)


async def test_env_key_and_base_read_at_call_time(cassette, monkeypatch):
    server = cassette("anthropic/test_anthropic_model_instructions.yaml")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url + "/")
    d = dialog("What is the capital of France?", system=SYS)
    res = await AnthropicInvoker().acall(
        d,
        "claude-3-opus-latest",
        {"extra_headers": {"anthropic-beta": "skills-2025-10-02"}, "skills": [{"id": "skill_abc"}]},
    )
    h = server.requests[0]["headers"]
    assert h["x-api-key"] == "sk-env" and h["anthropic-beta"] == "skills-2025-10-02"
    assert sent(server, 0)["container"] == {
        "skills": [{"type": "custom", "skill_id": "skill_abc", "version": "latest"}]
    }
    assert "skills" not in sent(server, 0)
    assert res.message.content == "The capital of France is Paris."


async def test_tool_message_without_tool_call_id_is_a_value_error():
    d = dialog("hi")
    d.append(Message(role=Roles.TOOL, content="42", name="calc"))
    with pytest.raises(ValueError, match="calc"):
        await AnthropicInvoker().acall(d, A + "claude-sonnet-4-5", {"api_key": "k", "api_base": "http://127.0.0.1:9"})


def test_context_window():
    inv = AnthropicInvoker()
    assert inv.context_window("anthropic/claude-sonnet-4-5") == 200000
    assert inv.context_window("claude-3-opus-latest") == 200000
    assert inv.context_window("gpt-4o") is None


def test_import_is_lazy():
    code = (
        "import sys, lllm.invokers.anthropic; "
        "assert 'aiohttp' not in sys.modules and 'genai_prices' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_message_mapping_merges_turns_and_sniffs_images():
    from PIL import Image

    from lllm.invokers.anthropic import anthropic_messages

    buf = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buf, format="GIF")
    b64 = base64.b64encode(buf.getvalue()).decode()
    msgs = [
        Message(role=Roles.SYSTEM, content="A", name="system"),
        Message(role=Roles.USER, content="one", name="user"),
        Message(role=Roles.USER, content="", name="user"),  # empty: no block
        Message(role=Roles.USER, content=b64, name="user", modality=Modalities.IMAGE),  # no mime: sniffed
        Message(role=Roles.SYSTEM, content="B", name="system"),
        Message(role=Roles.ASSISTANT, content="hi", name="bot"),
        Message(role=Roles.ASSISTANT, content=[{"type": "text", "text": "there"}], name="bot2"),
        Message(
            role=Roles.USER,
            content=f"data:image/webp;base64,{b64}",
            name="user",
            modality=Modalities.IMAGE,
            metadata={"caption": "look"},
        ),
    ]
    system, out, used = anthropic_messages(msgs)
    assert system == "A\n\nB" and used == set()
    assert [t["role"] for t in out] == ["user", "assistant", "user"]
    assert out[0]["content"][0] == {"type": "text", "text": "one"}
    assert out[0]["content"][1]["source"] == {"type": "base64", "media_type": "image/gif", "data": b64}
    assert out[1]["content"] == [{"type": "text", "text": "hi"}, {"type": "text", "text": "there"}]
    assert out[2]["content"][0] == {"type": "text", "text": "look"}
    assert (
        out[2]["content"][1]["source"]["media_type"] == "image/webp" and out[2]["content"][1]["source"]["data"] == b64
    )


def test_tool_results_lead_their_user_turn():
    from lllm.invokers.anthropic import anthropic_messages

    msgs = [
        Message(role=Roles.USER, content="go", name="user"),
        Message(
            role=Roles.TOOL_CALL,
            content="",
            name="bot",
            function_calls=[{"id": "t1", "name": "f", "arguments": {"x": 1}}],
        ),
        Message(role=Roles.USER, content="note", name="user"),
        Message(role=Roles.TOOL, content="r1", name="f", metadata={"tool_call_id": "t1", "is_error": True}),
    ]
    _, out, used = anthropic_messages(msgs)
    assert used == {"f"}
    assert out[1]["content"] == [{"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}}]
    assert out[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "t1", "content": "r1", "is_error": True},
        {"type": "text", "text": "note"},
    ]


def test_openai_style_model_args_are_mapped_or_dropped():
    from lllm.invokers.anthropic import build_body

    body = build_body(
        [Message(role=Roles.USER, content="x", name="user")],
        "claude-x",
        [{"name": "f", "description": "", "input_schema": {"type": "object"}}],
        None,
        {
            "max_completion_tokens": 77,
            "seed": 1,
            "presence_penalty": 0.1,
            "tool_choice": "required",
            "parallel_tool_calls": False,
            "user": "u1",
            "temperature": 0.2,
            "api_key": "k",
            "timeout": 3,
            "extra_headers": {"a": "b"},
        },
        False,
    )
    assert body["max_tokens"] == 77 and body["temperature"] == 0.2 and body["metadata"] == {"user_id": "u1"}
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    for k in ("seed", "presence_penalty", "api_key", "timeout", "extra_headers", "max_completion_tokens", "user"):
        assert k not in body
    big = build_body(
        [Message(role=Roles.USER, content="x", name="user")],
        "claude-x",
        [],
        None,
        {"reasoning_effort": "high", "thinking": {"type": "enabled", "budget_tokens": 8000}},
        True,
    )
    assert big["thinking"]["budget_tokens"] == 8000 and big["max_tokens"] == 8000 + 4096 and big["stream"] is True


def test_the_responses_api_type_is_refused_before_any_request():
    import pytest

    from lllm import Dialog
    from lllm.core.const import APITypes
    from lllm.errors import ConfigError
    from lllm.invokers.anthropic import AnthropicInvoker

    d = Dialog()
    d.put_text("hi")
    with pytest.raises(ConfigError, match="Responses API; Anthropic model 'claude-x' takes api_type='completion'"):
        AnthropicInvoker({"api_key": "k"}).call(d, "claude-x", api_type=APITypes.RESPONSE)
