"""OpenAIInvoker against recorded provider traffic, through the real HTTP stack.

Each test serves a pydantic-ai cassette from a local HTTP server, drives the invoker with a real
Dialog/Prompt/Function, and checks both directions: the request LLLM built (compared with the
recorded request on the fields that matter) and how it read the recorded answer."""

from __future__ import annotations

import json
import time
from typing import Any, Dict, List
from urllib.parse import urlsplit

import pytest
from pydantic import BaseModel

from lllm.core.const import APITypes, Modalities, Roles
from lllm.core.dialog import Dialog
from lllm.core.message import Message
from lllm.core.prompt import Prompt
from lllm.core.stream import BaseStreamHandler
from lllm.core.tools import Function
from lllm.errors import ConfigError, ProviderError
from lllm.invokers.openai import OpenAIInvoker, chat_messages

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def api_base(server) -> str:
    """The local equivalent of the recorded base URL (e.g. .../openai/v1 for Groq)."""
    path = urlsplit(server.interactions[0]["request"]["uri"]).path
    for suffix in ("/chat/completions", "/responses"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return server.url + path


def margs(server, **extra: Any) -> Dict[str, Any]:
    return {"api_base": api_base(server), "api_key": "sk-test", **extra}


def strip_titles(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: strip_titles(v) for k, v in x.items() if k != "title"}
    if isinstance(x, list):
        return [strip_titles(v) for v in x]
    return x


def text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content


def norm_messages(msgs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    out = []
    for m in msgs:
        d: Dict[str, Any] = {
            "role": "system" if m["role"] in ("system", "developer") else m["role"],
            "text": text_of(m.get("content")),
        }
        if m.get("tool_calls"):
            d["tool_calls"] = [
                (tc["id"], tc["function"]["name"], json.loads(tc["function"]["arguments"])) for tc in m["tool_calls"]
            ]
        if m.get("tool_call_id"):
            d["tool_call_id"] = m["tool_call_id"]
        images = (
            [
                p["image_url"]["url"]
                for p in m.get("content") or ()
                if isinstance(p, dict) and p.get("type") == "image_url"
            ]
            if isinstance(m.get("content"), list)
            else []
        )
        if images:
            d["images"] = images
        out.append(d)
    return out


def norm_tools(tools: Any) -> List[Any]:
    return sorted(
        (
            t["function"]["name"],
            t["function"]["parameters"].get("properties"),
            sorted(t["function"]["parameters"].get("required") or []),
        )
        for t in tools or ()
    )


def assert_same_request(sent: Dict[str, Any], recorded: Dict[str, Any]) -> None:
    """Compare what LLLM sent with what the recorded client sent, on the fields that matter."""
    assert sent["model"] == recorded["model"]
    assert norm_messages(sent["messages"]) == norm_messages(recorded["messages"])
    assert norm_tools(sent.get("tools")) == norm_tools(recorded.get("tools"))
    rf_sent, rf_rec = sent.get("response_format"), recorded.get("response_format")
    assert (rf_sent is None) == (rf_rec is None)
    if rf_rec is not None:
        assert strip_titles(rf_sent) == strip_titles(rf_rec)
    assert bool(sent.get("stream")) == bool(recorded.get("stream"))
    assert sent.get("stream_options") == recorded.get("stream_options")


class Collect(BaseStreamHandler):
    def __init__(self) -> None:
        self.tokens: List[str] = []
        self.raws: List[Any] = []
        self.done = 0

    def handle_chunk(self, text: str, raw: Any = None) -> None:
        self.tokens.append(text)
        self.raws.append(raw)

    def on_done(self) -> None:
        self.done += 1


def tool(name: str, **props: Any) -> Function:
    return Function(name, "", {k: {"type": v} for k, v in props.items()}, required=list(props))


def seed(system: str | None, user: str, prompt: Prompt | None = None) -> Dialog:
    d = Dialog()
    if system is not None:
        d.put_text(system, name="system", role=Roles.SYSTEM)
    if prompt is not None:
        d.put_prompt(prompt)
    else:
        d.put_text(user)
    return d


def put_tool_result(d: Dialog, call_id: str, text: str, tool_name: str = "tool") -> None:
    d.put_text(text, name=tool_name, role=Roles.TOOL, metadata={"tool_call_id": call_id})


# ---------------------------------------------------------------------------------------------
# plain text, usage, request record
# ---------------------------------------------------------------------------------------------


def test_text_usage_cost_and_request_record(cassette):
    server = cassette("openai/test_openai_instructions.yaml")
    d = seed("You are a helpful assistant.", "What is the capital of France?")
    before = time.time()
    res = OpenAIInvoker().call(d, "gpt-4o", margs(server, n=1, timeout=5))
    m = res.message
    assert m.role is Roles.ASSISTANT and m.content == "The capital of France is Paris."
    assert m.model == "gpt-4o-2024-08-06" and m.metadata["finish_reason"] == "stop"
    assert m.parsed == {"raw": "The capital of France is Paris."}
    assert (res.cost.prompt_tokens, res.cost.completion_tokens, res.cost.total_tokens) == (24, 8, 32)
    assert res.cost.cost == pytest.approx(24 * 2.5e-6 + 8 * 10e-6)  # gpt-4o list price from genai-prices
    assert not res.has_errors
    # what was sent: recorded fields match; consumed args are not sent; the key is nowhere in the record
    sent = server.requests[0]["json"]
    assert_same_request(sent, server.recorded_request(0))
    assert sent["n"] == 1 and "timeout" not in sent and "api_key" not in sent
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-test"
    assert res.model_args == {"n": 1}
    assert set(res.request) == {"provider", "url", "model", "body", "api_type", "stream"}
    assert res.request["body"] == sent and res.request["provider"] == "openai" and res.request["stream"] is False
    assert res.request["url"].endswith("/v1/chat/completions") and res.request["api_type"] == "completion"
    assert "sk-test" not in json.dumps(res.request)
    assert res.raw_response["id"] == "chatcmpl-BJjf61mLb9z5H45ClJzbx0UWKwjo1"
    assert before <= res.started_at <= time.time() and 0 < res.latency_s < 5
    server.assert_all_served()


def test_reasoning_tokens_and_passthrough_args(cassette):
    server = cassette("openai/test_max_completion_tokens[o3-mini].yaml")
    res = OpenAIInvoker().call(
        seed(None, "hello"), "openai/o3-mini", margs(server, max_completion_tokens=100, stream=False)
    )
    assert server.requests[0]["json"] == server.recorded_request(0)  # the exact recorded body
    assert res.cost.reasoning_tokens == 64 and res.cost.completion_tokens == 87
    assert res.message.content == "Hello there! How can I help you today?"


# ---------------------------------------------------------------------------------------------
# tool calls
# ---------------------------------------------------------------------------------------------


async def test_single_tool_call_round_trip(cassette):
    server = cassette("openai/test_openai_instructions_with_tool_calls_keep_instructions.yaml")
    fn = tool("get_temperature", city="string")
    prompt = Prompt("ask_temp", "What is the temperature in Tokyo?", function_list=[fn])
    d = seed("You are a helpful assistant.", "", prompt)
    inv = OpenAIInvoker()

    first = await inv.acall(d, "openai/gpt-4.1-mini", margs(server), responder="weather_agent")
    m = first.message
    assert m.role is Roles.TOOL_CALL and m.modality is Modalities.FUNCTION_CALL and m.name == "weather_agent"
    assert [(c.id, c.name, c.arguments) for c in m.function_calls] == [
        ("call_bhZkmIKKItNGJ41whHUHB7p9", "get_temperature", {"city": "Tokyo"})
    ]
    assert m.content == "" and m.metadata["finish_reason"] == "tool_calls" and not first.has_errors
    assert_same_request(server.requests[0]["json"], server.recorded_request(0))

    d.append(m)
    put_tool_result(d, m.function_calls[0].id, "20.0", "get_temperature")
    second = await inv.acall(d, "openai/gpt-4.1-mini", margs(server), functions=[fn])
    assert second.message.content == "The temperature in Tokyo is currently 20.0 degrees Celsius."
    sent = server.requests[1]["json"]
    assert_same_request(sent, server.recorded_request(1))
    assert sent["messages"][2]["content"] is None  # only the provider's own text, here none
    server.assert_all_served()


def test_parallel_tool_calls(cassette):
    server = cassette("openai/test_temporal_agent_with_hitl_tool.yaml")
    create, delete = tool("create_file", path="string"), tool("delete_file", path="string")
    prompt = Prompt("files", "Delete the file `.env` and create `test.txt`", function_list=[create, delete])
    d = seed("Just call tools without asking for confirmation.", "", prompt)
    inv = OpenAIInvoker()
    first = inv.call(d, "gpt-4o", margs(server))
    calls = first.message.function_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_jYdIdRZHxZTn5bWCq5jlMrJi", "delete_file", {"path": ".env"}),
        ("call_TmlTVWQbzrXCZ4jNsCVNbNqu", "create_file", {"path": "test.txt"}),
    ]
    assert_same_request(server.requests[0]["json"], server.recorded_request(0))
    d.append(first.message)
    put_tool_result(d, calls[0].id, "true", "delete_file")
    put_tool_result(d, calls[1].id, "Success", "create_file")
    second = inv.call(d, "gpt-4o", margs(server), functions=[create, delete])
    assert second.message.content.startswith("The file `.env` has been deleted")
    assert_same_request(server.requests[1]["json"], server.recorded_request(1))
    server.assert_all_served()


def test_forced_tool_choice_passthrough(cassette):
    server = cassette("openai/test_tool_choice_matrix[list_single-openai].yaml")
    fns = [
        Function("get_weather", "Get weather for a city", {"city": {"type": "string"}}, required=["city"]),
        Function("get_time", "Get time in a timezone", {"timezone": {"type": "string"}}, required=["timezone"]),
    ]
    choice = {"type": "function", "function": {"name": "get_weather"}}
    res = OpenAIInvoker().call(
        seed(None, "What's the weather in Paris?"), "gpt-5-mini", margs(server, tool_choice=choice), functions=fns
    )
    sent = server.requests[0]["json"]
    assert sent["tool_choice"] == choice and sent["tools"] == [f.to_tool() for f in fns]
    assert_same_request(sent, server.recorded_request(0))
    assert res.message.function_calls[0].arguments == {"city": "Paris"}


def test_functions_empty_list_sends_no_tools(cassette):
    server = cassette("openai/test_openai_instructions.yaml")
    prompt = Prompt("q", "What is the capital of France?", function_list=[tool("get_temperature", city="string")])
    OpenAIInvoker().call(seed("You are a helpful assistant.", "", prompt), "gpt-4o", margs(server), functions=[])
    assert "tools" not in server.requests[0]["json"]


def test_missing_tool_call_id_is_a_value_error():
    d = seed(None, "hi")
    d.put_text("result", name="get_x", role=Roles.TOOL)
    with pytest.raises(ValueError, match="tool_call_id.*get_x|get_x.*tool_call_id"):
        OpenAIInvoker().call(d, "gpt-4o", {"api_base": "http://127.0.0.1:9/v1"})


def test_malformed_tool_arguments_are_execution_errors(cassette):
    """finish_output decodes the raw argument string; bad JSON is an invalid-output error, not a crash."""
    server = cassette("openai/test_openai_instructions_with_tool_calls_keep_instructions.yaml")
    body = server.interactions[0]["response"]["parsed_body"]
    body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = '{"city": "Tok'
    res = OpenAIInvoker().call(seed(None, "x"), "gpt-4.1-mini", margs(server))
    assert res.has_errors and "malformed JSON" in res.error_message
    assert res.message.function_calls[0].arguments == {}


# ---------------------------------------------------------------------------------------------
# structured output
# ---------------------------------------------------------------------------------------------


class result(BaseModel):  # noqa: N801 - the recorded schema name is "result"
    city: str
    country: str


def test_structured_output_json_schema(cassette):
    server = cassette("openai/test_openai_native_output.yaml")
    fn = Function("get_user_country", "", {}, strict=False)
    prompt = Prompt("largest_city", "What is the largest city in the user country?", format=result, function_list=[fn])
    d = seed(None, "", prompt)
    inv = OpenAIInvoker()
    first = inv.call(d, "gpt-4o", margs(server))
    sent = server.requests[0]["json"]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "result"
    assert sent["response_format"]["json_schema"]["strict"] is False
    assert_same_request(sent, server.recorded_request(0))
    assert first.message.function_calls[0].name == "get_user_country"

    d.append(first.message)
    d.put_prompt(
        prompt.on_interrupt(),
        {"call_results": "Mexico"},
        name="get_user_country",
        role=Roles.TOOL,
        metadata={"tool_call_id": first.message.function_calls[0].id},
    )
    second = inv.call(d, "gpt-4o", margs(server), functions=[fn])
    assert_same_request(server.requests[1]["json"], server.recorded_request(1))
    assert not second.has_errors
    assert second.message.parsed_as(result) == result(city="Mexico City", country="Mexico")
    server.assert_all_served()


def test_structured_output_invalid_json_is_an_execution_error(cassette):
    server = cassette("openai/test_openai_instructions.yaml")  # answers plain text
    prompt = Prompt("q", "What is the capital of France?", format=result)
    res = OpenAIInvoker().call(seed(None, "", prompt), "gpt-4o", margs(server))
    assert res.has_errors and "result" in res.error_message
    assert res.message.content == "The capital of France is Paris."


# ---------------------------------------------------------------------------------------------
# streaming
# ---------------------------------------------------------------------------------------------


async def test_stream_tool_call_deltas_usage_chunk_then_text(cassette):
    server = cassette("openai/test_run_stream_sync_streams_real_model.yaml", sse_chunk=17)
    fn = tool("get_capital", country="string")
    prompt = Prompt("uk", "What is the capital of the UK? Use the tool, then answer.", function_list=[fn])
    d = seed(None, "", prompt)
    inv = OpenAIInvoker()
    h1 = Collect()
    first = await inv.acall(d, "gpt-4o-mini", margs(server), stream_handler=h1)
    call = first.message.function_calls[0]
    assert (call.id, call.name, call.arguments) == ("call_ZR5UUuTt3pf61kjwAJIYdVMj", "get_capital", {"country": "UK"})
    assert first.message.metadata["finish_reason"] == "tool_calls" and first.message.model == "gpt-4o-mini-2024-07-18"
    assert (first.cost.prompt_tokens, first.cost.completion_tokens) == (53, 15)
    assert h1.tokens == [] and h1.done == 1
    assert isinstance(first.raw_response, list) and first.raw_response[-1]["choices"] == []
    assert first.request["stream"] is True
    assert_same_request(server.requests[0]["json"], server.recorded_request(0))

    d.append(first.message)
    put_tool_result(d, call.id, "London", "get_capital")
    h2 = Collect()
    second = await inv.acall(d, "gpt-4o-mini", margs(server), stream_handler=h2, functions=[fn])
    assert "".join(h2.tokens) == second.message.content == "The capital of the UK is London."
    assert h2.done == 1 and all(isinstance(r, dict) for r in h2.raws)
    assert second.cost.total_tokens > 0
    assert_same_request(server.requests[1]["json"], server.recorded_request(1))
    server.assert_all_served()


def test_stream_plain_text_sync(cassette):
    server = cassette("openai/test_temporal_agent_run_stream.yaml", sse_chunk=5)
    h = Collect()
    res = OpenAIInvoker().call(
        seed(None, "What is the capital of Mexico?"), "openai/gpt-4o", margs(server), stream_handler=h
    )
    assert "".join(h.tokens) == res.message.content == "The capital of Mexico is Mexico City."
    assert len(h.tokens) > 3 and h.done == 1
    assert res.cost.prompt_tokens > 0 and res.cost.cost > 0
    assert res.model_args == {"stream": True, "stream_options": {"include_usage": True}}
    assert_same_request(server.requests[0]["json"], server.recorded_request(0))


# ---------------------------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------------------------


def test_image_message_after_tool_round_trip(cassette):
    server = cassette("openai/test_image_url_tool_response.yaml")
    fn = Function("get_image", "", {}, strict=False)
    d = seed(None, "What food is in the image you can get from the get_image tool?")
    inv = OpenAIInvoker()
    first = inv.call(d, "gpt-4o", margs(server), functions=[fn])
    d.append(first.message)
    put_tool_result(d, first.message.function_calls[0].id, "See file bd38f5", "get_image")
    url = "https://t3.ftcdn.net/jpg/00/85/79/92/360_F_85799278_0BBGV9OAdQDTLnKwAPBCcg1J7QtiieJY.jpg"
    d.append(
        Message(
            role=Roles.USER,
            content=url,
            name="user",
            modality=Modalities.IMAGE,
            metadata={"caption": "This is file bd38f5:", "mime_type": "image/jpeg"},
        )
    )
    second = inv.call(d, "gpt-4o", margs(server), functions=[fn])
    assert second.message.content == "The image shows a potato."
    assert_same_request(server.requests[1]["json"], server.recorded_request(1))


def test_image_content_parts_use_the_true_mime_type():
    png = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
        b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    d = Dialog()
    d.put_image(png, caption="a pixel")
    [msg] = chat_messages(d.messages)
    assert msg["role"] == "user"
    assert msg["content"][0] == {"type": "text", "text": "a pixel"}
    assert msg["content"][1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")


def test_roles_developer_for_openai_and_names():
    d = seed("sys", "hi")
    d.append(Message(role=Roles.ASSISTANT, content="hello", name="coder"))
    msgs = chat_messages(d.messages, "developer", names=True)
    assert [m["role"] for m in msgs] == ["developer", "user", "assistant"]
    assert "name" not in msgs[0] and "name" not in msgs[1] and msgs[2]["name"] == "coder"
    assert [m["role"] for m in chat_messages(d.messages)] == ["system", "user", "assistant"]


# ---------------------------------------------------------------------------------------------
# provider errors
# ---------------------------------------------------------------------------------------------


def test_400_is_fatal_with_the_provider_message(cassette):
    server = cassette("openai/test_openai_o1_mini_system_role[developer].yaml")
    inv = OpenAIInvoker({"system_role": "developer"})
    with pytest.raises(ProviderError) as ei:
        inv.call(seed("You are a helpful assistant.", "Hello"), "o1-mini", margs(server, n=1))
    e = ei.value
    assert e.kind is None and e.status == 400 and inv.classify_error(e) is None
    assert "does not support 'developer'" in str(e) and "400" in str(e) and "unsupported_value" in str(e)
    assert_same_request(server.requests[0]["json"], server.recorded_request(0))
    assert server.requests[0]["json"]["messages"][0]["role"] == "developer"  # as recorded


async def test_404_model_not_found_is_fatal(cassette):
    server = cassette("openai/test_model_name_suggestion[openai-chat].yaml")
    with pytest.raises(ProviderError) as ei:
        await OpenAIInvoker().acall(seed(None, "hello"), "gpt-5.2-proo", margs(server))
    assert ei.value.kind is None and ei.value.status == 404
    assert "gpt-5.2-proo" in str(ei.value) and "model_not_found" in str(ei.value)


def test_openrouter_429_is_rate_limit(cassette):
    server = cassette("openrouter/test_openrouter_errors_raised.yaml")
    model = "openrouter/" + server.recorded_request(0)["model"]
    with pytest.raises(ProviderError) as ei:
        OpenAIInvoker().call(seed(None, "hi"), model, margs(server))
    e = ei.value
    assert e.kind == "rate_limit" and e.status == 429 and e.provider == "openrouter"
    assert "temporarily rate-limited upstream" in str(e) and "Google" in str(e)
    assert server.requests[0]["path"] == "/api/v1/chat/completions"
    assert server.requests[0]["json"]["model"] == "google/gemini-2.0-flash-exp:free"


# ---------------------------------------------------------------------------------------------
# Groq and Mistral variants
# ---------------------------------------------------------------------------------------------


def test_groq_text_usage_without_details(cassette):
    server = cassette("groq/test_groq_model_instructions.yaml")
    res = OpenAIInvoker().call(
        seed("You are a helpful assistant.", "What is the capital of France?"),
        "groq/llama-3.3-70b-versatile",
        margs(server),
    )
    assert server.requests[0]["path"] == "/openai/v1/chat/completions"
    assert server.requests[0]["json"]["messages"][0]["role"] == "system"
    assert_same_request(server.requests[0]["json"], server.recorded_request(0))
    assert res.message.content == "The capital of France is Paris."
    assert (res.cost.prompt_tokens, res.cost.completion_tokens, res.cost.cached_prompt_tokens) == (48, 8, 0)
    assert res.cost.cost > 0 and res.request["provider"] == "groq"


def test_groq_parallel_calls_with_foreign_ids(cassette):
    server = cassette("groq/test_tool_choice_matrix[tools_plus_output-groq].yaml")
    fns = [
        Function("get_weather", "Get the current weather for a city.", {"city": {"type": "string"}}, required=["city"]),
        Function(
            "final_result",
            "The final response which ends this conversation",
            {"city": {"type": "string"}, "summary": {"type": "string"}},
            required=["city", "summary"],
        ),
    ]
    res = OpenAIInvoker().call(
        seed(None, "Get weather for Paris and summarize"),
        "groq/meta-llama/llama-4-scout-17b-16e-instruct",
        margs(server, tool_choice="required"),
        functions=fns,
    )
    assert [(c.id, c.name) for c in res.message.function_calls] == [
        ("rew01jq49", "get_weather"),
        ("gbpypqxpx", "final_result"),
    ]
    assert res.message.function_calls[1].arguments == {"city": "Paris", "summary": "Current weather in Paris"}
    assert_same_request(server.requests[0]["json"], server.recorded_request(0))


def test_groq_tool_use_failed_400_is_fatal(cassette):
    server = cassette("groq/test_tool_use_failed_error.yaml")
    fn = Function("get_something_by_name", "", {"name": {"type": "string"}}, required=["name"])
    rec = server.recorded_request(0)
    d = seed(rec["messages"][0]["content"], rec["messages"][1]["content"])
    with pytest.raises(ProviderError) as ei:
        OpenAIInvoker().call(d, "groq/openai/gpt-oss-120b", margs(server), functions=[fn])
    assert ei.value.kind is None and ei.value.status == 400 and "tool_use_failed" in str(ei.value)
    assert_same_request(server.requests[0]["json"], rec)


def test_groq_reasoning_field_is_kept(cassette):
    server = cassette("groq/test_tool_use_failed_error.yaml")
    server.served[0] = True  # start at the second recorded exchange
    rec = server.recorded_request(1)
    fn = Function("get_something_by_name", "", {"name": {"type": "string"}}, required=["name"])
    d = seed(rec["messages"][0]["content"], rec["messages"][1]["content"])
    tc = rec["messages"][2]["tool_calls"][0]
    d.append(
        Message(
            role=Roles.TOOL_CALL,
            content="",
            name="assistant",
            modality=Modalities.FUNCTION_CALL,
            function_calls=[{"id": tc["id"], "name": tc["function"]["name"], "arguments": {"foo": "bar"}}],
        )
    )
    put_tool_result(d, tc["id"], rec["messages"][3]["content"], "get_something_by_name")
    res = OpenAIInvoker().call(d, "groq/openai/gpt-oss-120b", margs(server), functions=[fn])
    assert_same_request(server.requests[0]["json"], rec)
    assert res.message.function_calls[0].arguments == {"name": "test"}
    assert "call with correct param" in res.message.metadata["reasoning"]
    assert res.cost.reasoning_tokens == 22


def test_mistral_tool_call_with_index_and_no_type(cassette):
    server = cassette("mistral/test_tool_choice_matrix[auto-mistral].yaml")
    fn = Function("get_weather", "Get the current weather for a city.", {"city": {"type": "string"}}, required=["city"])
    d = seed(None, "What's the weather in Paris?")
    inv = OpenAIInvoker()
    first = inv.call(d, "mistral/mistral-large-latest", margs(server), functions=[fn])
    call = first.message.function_calls[0]
    assert (call.id, call.name, call.arguments) == ("KikbB849t", "get_weather", {"city": "Paris"})
    assert first.cost.cached_prompt_tokens == 76 and first.cost.prompt_tokens == 77
    d.append(first.message)
    put_tool_result(d, call.id, "Sunny, 22C in Paris", "get_weather")
    second = inv.call(d, "mistral/mistral-large-latest", margs(server), functions=[fn])
    assert "sunny" in second.message.content
    assert_same_request(server.requests[1]["json"], server.recorded_request(1))
    server.assert_all_served()


def test_mistral_args_sent_as_is(cassette):
    server = cassette("mistral/test_mistral_forwards_penalties.yaml")
    args = margs(server, frequency_penalty=0.25, presence_penalty=0.5, top_p=1.0, n=1, stream=False)
    res = OpenAIInvoker().call(seed(None, "hello"), "mistral/mistral-large-latest", args)
    assert server.requests[0]["json"] == server.recorded_request(0)
    assert res.message.function_calls == [] and res.message.content.startswith("Hello!")


# ---------------------------------------------------------------------------------------------
# Responses API
# ---------------------------------------------------------------------------------------------


def test_responses_plain_text(cassette):
    server = cassette("openai-responses/test_openai_responses_model_simple_response.yaml")
    res = OpenAIInvoker().call(
        seed(None, "What is the capital of France?"), "gpt-4o", margs(server, stream=False), api_type=APITypes.RESPONSE
    )
    assert server.requests[0]["json"] == server.recorded_request(0)
    assert server.requests[0]["path"] == "/v1/responses"
    assert res.message.content == "The capital of France is Paris." and res.message.api_type is APITypes.RESPONSE
    assert (res.cost.prompt_tokens, res.cost.completion_tokens) == (14, 8) and res.request["api_type"] == "response"


def test_responses_tool_round_trip(cassette):
    server = cassette("openai-responses/test_openai_responses_model_simple_response_with_tool_call.yaml")
    fn = Function("get_capital", "", {"country": {"type": "string"}}, required=["country"])
    d = seed(None, "What is the capital of PotatoLand?")
    inv = OpenAIInvoker()
    first = inv.call(d, "gpt-4o", margs(server), api_type=APITypes.RESPONSE, functions=[fn])
    call = first.message.function_calls[0]
    assert (call.id, call.name, call.arguments) == (
        "call_YfwRsW8sUxDKipwyhWTzOXCA",
        "get_capital",
        {"country": "PotatoLand"},
    )
    assert server.requests[0]["json"]["tools"][0]["name"] == "get_capital"
    d.append(first.message)
    put_tool_result(d, call.id, "Potato City", "get_capital")
    second = inv.call(d, "gpt-4o", margs(server), api_type=APITypes.RESPONSE, functions=[fn])
    assert second.message.content == "The capital of PotatoLand is Potato City."
    items = server.requests[1]["json"]["input"]
    assert [i.get("type", i.get("role")) for i in items] == ["user", "function_call", "function_call_output"]
    assert items[2] == {"type": "function_call_output", "call_id": call.id, "output": "Potato City"}
    server.assert_all_served()


async def test_responses_stream(cassette):
    server = cassette("openai-responses/test_openai_responses_stream.yaml", sse_chunk=31)
    fn = Function("get_capital", "", {"country": {"type": "string"}}, required=["country"])
    d = seed(None, "What is the capital of France?")
    inv = OpenAIInvoker()
    h = Collect()
    first = await inv.acall(d, "gpt-4o", margs(server), api_type=APITypes.RESPONSE, stream_handler=h, functions=[fn])
    assert first.message.function_calls[0].arguments == {"country": "France"} and h.done == 1
    d.append(first.message)
    put_tool_result(d, first.message.function_calls[0].id, "Paris", "get_capital")
    second = await inv.acall(d, "gpt-4o", margs(server), api_type=APITypes.RESPONSE, stream_handler=h, functions=[fn])
    assert "".join(h.tokens) == second.message.content and "Paris" in second.message.content
    assert h.done == 2 and second.cost.total_tokens > 0
    server.assert_all_served()


def test_responses_with_format_is_a_config_error_before_any_request():
    prompt = Prompt("q", "x", format=result)
    with pytest.raises(ConfigError, match="format"):
        OpenAIInvoker().call(
            seed(None, "", prompt), "gpt-4o", {"api_base": "http://127.0.0.1:9/v1"}, api_type=APITypes.RESPONSE
        )


def test_context_window_table():
    inv = OpenAIInvoker()
    assert inv.context_window("gpt-4o-2024-08-06") == 128000
    assert inv.context_window("openai/gpt-4.1-mini") == 1047576
    assert inv.context_window("o3") == 200000 and inv.context_window("o1-mini") == 128000
    assert inv.context_window("groq/llama-3.3-70b-versatile") is None
    assert inv.count_tokens("gpt-4o", list(seed("sys", "hello there").messages)) > 0


# ---------------------------------------------------------------------------------------------
# model_args written for LiteLLM / the OpenAI SDK, and the invoker config
# ---------------------------------------------------------------------------------------------


def test_client_only_args_are_consumed_not_sent(cassette):
    """LiteLLM/SDK control args are not Chat Completions fields (OpenAI answers 400 to unknown ones):
    retries are the agent loop's, ``extra_body`` is merged, ``organization`` is a header."""
    server = cassette("openai/test_openai_instructions.yaml")
    d = seed("You are a helpful assistant.", "What is the capital of France?")
    args = margs(server, num_retries=3, max_retries=2, drop_params=True, extra_body={"seed": 7}, organization="org-1")
    res = OpenAIInvoker().call(d, "gpt-4o", args)
    sent = server.requests[0]["json"]
    assert not {"num_retries", "max_retries", "drop_params", "extra_body", "organization"} & set(sent)
    assert sent["seed"] == 7 and res.model_args == {"seed": 7}
    assert server.requests[0]["headers"]["openai-organization"] == "org-1"
    assert res.message.content == "The capital of France is Paris."


def test_invoker_config_supplies_api_base_and_key(cassette):
    """Like the Anthropic and LiteLLM invokers, ``invoker_config`` api_base/api_key are the fallback."""
    server = cassette("openai/test_openai_instructions.yaml")
    d = seed("You are a helpful assistant.", "What is the capital of France?")
    res = OpenAIInvoker({"api_base": api_base(server), "api_key": "sk-cfg"}).call(d, "gpt-4o", {})
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-cfg"
    assert res.message.content == "The capital of France is Paris."


def test_content_given_as_parts_is_read_as_text():
    """Mistral's reasoning models answer with content parts (thinking, then text), also when streaming."""
    from lllm.invokers.openai import ChatStream, parse_chat

    parts = [{"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}, {"type": "text", "text": "Paris"}]
    out = parse_chat(
        {
            "model": "magistral-medium",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": parts}}],
        }
    )
    assert out.content == "Paris"
    h = Collect()
    asm = ChatStream(h, "mistral")
    for p in parts:
        asm.feed({"choices": [{"index": 0, "delta": {"content": [p]}}]})
    assert asm.result().content == "Paris" and h.tokens == ["Paris"]
