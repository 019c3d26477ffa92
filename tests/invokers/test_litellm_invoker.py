"""LiteLLMInvoker against recorded exchanges replayed by a local HTTP server.

LiteLLM is pointed at the server with ``api_base`` and an ``openai/``-prefixed model, so it speaks
OpenAI Chat Completions to it (and native Anthropic Messages for ``anthropic/`` models). The
results must match what the native invokers make of the same recordings."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import List

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # offline: no remote cost-map fetch at import
pytest.importorskip("litellm", reason="LiteLLM is an optional extra: pip install 'lllm[litellm]'")

from pydantic import BaseModel  # noqa: E402
from support.cassette_server import CassetteServer, load_cassette  # noqa: E402

from lllm.core.aio import run_sync  # noqa: E402
from lllm.core.const import APITypes, Roles  # noqa: E402
from lllm.core.dialog import Dialog  # noqa: E402
from lllm.core.message import Message  # noqa: E402
from lllm.core.prompt import Prompt  # noqa: E402
from lllm.core.stream import BaseStreamHandler  # noqa: E402
from lllm.core.tools import Function  # noqa: E402
from lllm.errors import ConfigError, ProviderError  # noqa: E402
from lllm.invokers.anthropic import AnthropicInvoker  # noqa: E402
from lllm.invokers.litellm import LiteLLMInvoker, classify_litellm, load_litellm  # noqa: E402
from lllm.invokers.pricing import price_usage  # noqa: E402

# LiteLLM's own import-time and pydantic warnings are not ours to fix
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def run(coro):
    """Run ``acall`` on LLLM's one long-lived background loop (as the sync API does): LiteLLM binds a
    background logging task to the loop of its first call, which per-test loops would destroy."""
    return run_sync(coro)


class Collect(BaseStreamHandler):
    def __init__(self):
        self.tokens: List[str] = []
        self.done = 0

    def on_token(self, text):
        self.tokens.append(text)

    def on_done(self):
        self.done += 1


def oa(server, **extra):
    return {"api_base": server.url + "/v1", "api_key": "sk-test", **extra}


def dialog(user: str, system: str = None) -> Dialog:
    d = Dialog()
    if system is not None:
        d.append(Message(role=Roles.SYSTEM, content=system, name="system"))
    d.put_text(user)
    return d


def tool_result(d: Dialog, call_id: str, content: str) -> None:
    d.append(Message(role=Roles.TOOL, content=content, name="tool", metadata={"tool_call_id": call_id}))


def core_messages(msgs):
    """Roles, text, tool calls and tool_call ids: what must survive LiteLLM's own normalisation."""
    out = []
    for m in msgs:
        calls = [
            (c["id"], c["function"]["name"], c["function"]["arguments"].replace(" ", ""))
            for c in m.get("tool_calls") or ()
        ]
        role = "system" if m["role"] == "developer" else m["role"]
        out.append((role, m.get("content") or None, calls, m.get("tool_call_id")))
    return out


def test_plain_text_usage_cost_and_request(cassette):
    server = cassette("openai/test_openai_instructions.yaml")
    res = run(
        LiteLLMInvoker().acall(
            dialog("What is the capital of France?", "You are a helpful assistant."), "openai/gpt-4o", oa(server)
        )
    )
    server.assert_all_served()
    assert len(server.requests) == 1
    body, rec = server.requests[0]["json"], server.recorded_request(0)
    assert core_messages(body["messages"]) == core_messages(rec["messages"]) and body["model"] == "gpt-4o"
    m = res.message
    assert m.content == "The capital of France is Paris." and m.role == Roles.ASSISTANT
    assert m.model == "gpt-4o-2024-08-06" and m.metadata["finish_reason"] == "stop"
    assert (m.usage["prompt_tokens"], m.usage["completion_tokens"], m.usage["total_tokens"]) == (24, 8, 32)
    expected = price_usage("openai", "gpt-4o-2024-08-06", {"prompt_tokens": 24, "completion_tokens": 8})
    assert res.cost.cost == pytest.approx(expected["cost"]) and res.cost.cost > 0
    sent = res.request["body"]
    assert sent["drop_params"] is True and sent["num_retries"] == 0 and sent["max_retries"] == 0
    assert sent["messages"][0]["role"] == "developer" and "api_key" not in sent
    assert res.request["provider"] == "openai" and res.request["stream"] is False
    assert res.model_args["drop_params"] is True and "api_key" not in res.model_args
    assert res.raw_response["choices"][0]["message"]["content"] == m.content


def test_sync_call(cassette):
    server = cassette("openai/test_openai_instructions.yaml")
    res = LiteLLMInvoker().call(
        dialog("What is the capital of France?", "You are a helpful assistant."), "openai/gpt-4o", oa(server)
    )
    assert res.message.content == "The capital of France is Paris."


def test_single_tool_call_round_trip(cassette):
    server = cassette("openai/test_openai_instructions_with_tool_calls_keep_instructions.yaml")
    fn = Function("get_temperature", "", {"city": {"type": "string"}}, ["city"])
    d = dialog("What is the temperature in Tokyo?", "You are a helpful assistant.")
    inv = LiteLLMInvoker()
    res = run(inv.acall(d, "openai/gpt-4.1-mini", oa(server), functions=[fn]))
    tools = server.requests[0]["json"]["tools"]
    assert [t["function"]["parameters"] for t in tools] == [
        t["function"]["parameters"] for t in server.recorded_request(0)["tools"]
    ]
    m = res.message
    assert m.role == Roles.TOOL_CALL and m.content == ""
    assert [(c.id, c.name, c.arguments) for c in m.function_calls] == [
        ("call_bhZkmIKKItNGJ41whHUHB7p9", "get_temperature", {"city": "Tokyo"})
    ]
    d.append(m)
    tool_result(d, m.function_calls[0].id, "20.0")
    res2 = run(inv.acall(d, "openai/gpt-4.1-mini", oa(server), functions=[fn]))
    server.assert_all_served()
    assert core_messages(server.requests[1]["json"]["messages"]) == core_messages(
        server.recorded_request(1)["messages"]
    )
    assert res2.message.content == "The temperature in Tokyo is currently 20.0 degrees Celsius."


def test_parallel_tool_calls(cassette):
    server = cassette("openai/test_temporal_agent_with_hitl_tool.yaml")
    fns = [
        Function("create_file", "", {"path": {"type": "string"}}, ["path"]),
        Function("delete_file", "", {"path": {"type": "string"}}, ["path"]),
    ]
    d = dialog("Delete the file `.env` and create `test.txt`", "Just call tools without asking for confirmation.")
    inv = LiteLLMInvoker()
    res = run(inv.acall(d, "openai/gpt-4o", oa(server), functions=fns))
    calls = res.message.function_calls
    assert [(c.name, c.arguments) for c in calls] == [
        ("delete_file", {"path": ".env"}),
        ("create_file", {"path": "test.txt"}),
    ]
    d.append(res.message)
    tool_result(d, calls[0].id, "true")
    tool_result(d, calls[1].id, "Success")
    res2 = run(inv.acall(d, "openai/gpt-4o", oa(server), functions=fns))
    server.assert_all_served()
    assert core_messages(server.requests[1]["json"]["messages"]) == core_messages(
        server.recorded_request(1)["messages"]
    )
    assert "test.txt" in res2.message.content


def test_stream_plain_text(cassette):
    server = cassette("openai/test_temporal_agent_run_stream.yaml", sse_chunk=9)
    h = Collect()
    res = run(
        LiteLLMInvoker().acall(dialog("What is the capital of Mexico?"), "openai/gpt-4o", oa(server), stream_handler=h)
    )
    body = server.requests[0]["json"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "".join(h.tokens) == res.message.content and res.message.content.startswith("The capital of Mexico")
    assert h.done == 1 and res.request["stream"] is True
    assert res.message.usage["prompt_tokens"] > 0 and res.message.usage["completion_tokens"] > 0
    assert res.cost.cost > 0


def test_stream_tool_call_then_text(cassette):
    server = cassette("openai/test_run_stream_sync_streams_real_model.yaml")
    fn = Function("get_capital", "", {"country": {"type": "string"}}, ["country"])
    d = dialog("What is the capital of the UK? Use the tool, then answer.")
    inv = LiteLLMInvoker()
    h = Collect()
    res = run(inv.acall(d, "openai/gpt-4o-mini", oa(server), stream_handler=h, functions=[fn]))
    (call,) = res.message.function_calls
    assert (call.id, call.name, call.arguments) == ("call_ZR5UUuTt3pf61kjwAJIYdVMj", "get_capital", {"country": "UK"})
    assert h.tokens == [] and h.done == 1
    d.append(res.message)
    tool_result(d, call.id, "London")
    res2 = run(inv.acall(d, "openai/gpt-4o-mini", oa(server), stream_handler=h, functions=[fn]))
    server.assert_all_served()
    assert core_messages(server.requests[1]["json"]["messages"]) == core_messages(
        server.recorded_request(1)["messages"]
    )
    assert "London" in res2.message.content and h.done == 2


class Answer(BaseModel):
    city: str


@pytest.mark.parametrize("as_dict", [False, True])
def test_structured_output(as_dict):
    interactions = load_cassette("openai/test_openai_instructions.yaml")
    interactions[0]["response"]["parsed_body"]["choices"][0]["message"]["content"] = '{"city": "Paris"}'
    fmt = Answer.model_json_schema() if as_dict else Answer
    with CassetteServer(interactions) as server:
        d = Dialog()
        d.put_prompt(Prompt("capital", "What is the capital of France?", format=fmt))
        res = run(LiteLLMInvoker().acall(d, "openai/gpt-4o", oa(server)))
        rf = server.requests[0]["json"]["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["schema"]["properties"]["city"]["type"] == "string"
    assert not res.has_errors and res.message.parsed == {"city": "Paris"}
    assert res.request["body"]["response_format"]["type"] == "json_schema"  # JSON-safe record


def test_error_404_is_fatal_with_provider_message(cassette):
    server = cassette("openai/test_model_name_suggestion[openai-chat].yaml")
    inv = LiteLLMInvoker()
    with pytest.raises(ProviderError) as ei:
        run(inv.acall(dialog("hello"), "openai/gpt-5.2-proo", oa(server)))
    e = ei.value
    assert e.kind is None and e.status == 404 and inv.classify_error(e) is None
    assert "The model `gpt-5.2-proo` does not exist" in str(e)
    assert isinstance(e.__cause__, load_litellm().NotFoundError)


def test_error_400_is_fatal(cassette):
    server = cassette("openai/test_openai_o1_mini_system_role[developer].yaml")
    with pytest.raises(ProviderError) as ei:
        run(LiteLLMInvoker().acall(dialog("Hello", "You are a helpful assistant."), "openai/o1-mini", oa(server)))
    assert ei.value.kind is None and ei.value.status == 400 and "does not support 'developer'" in str(ei.value)


def _status_interaction(status, message):
    return [
        {
            "request": {"method": "POST", "uri": "https://api.openai.com/v1/chat/completions"},
            "response": {
                "status": {"code": status},
                "headers": {"retry-after": ["2"]},
                "parsed_body": {"error": {"message": message, "type": "x", "code": None}},
            },
        }
    ]


@pytest.mark.parametrize("status,kind", [(429, "rate_limit"), (500, "transient"), (503, "transient"), (401, None)])
def test_error_classes_and_no_client_retries(status, kind):
    with CassetteServer(_status_interaction(status, "busy right now") * 3) as server:
        with pytest.raises(ProviderError) as ei:
            run(LiteLLMInvoker().acall(dialog("hi"), "openai/gpt-4o", oa(server)))
        assert len(server.requests) == 1  # LiteLLM's own retries are off
    assert ei.value.kind == kind and ei.value.status == status and "busy right now" in str(ei.value)
    if kind == "rate_limit":
        assert ei.value.retry_after == 2.0


def test_connection_error_is_transient():
    with pytest.raises(ProviderError) as ei:
        run(
            LiteLLMInvoker().acall(
                dialog("hi"), "openai/gpt-4o", {"api_base": "http://127.0.0.1:9/v1", "api_key": "k", "timeout": 5}
            )
        )
    assert ei.value.kind == "transient"


def test_classify_raw_litellm_exceptions():
    lt = load_litellm()
    assert classify_litellm(lt.RateLimitError("x", "openai", "m")) == "rate_limit"
    assert classify_litellm(lt.Timeout("x", "m", "openai")) == "transient"
    assert classify_litellm(lt.APIConnectionError("x", "openai", "m")) == "transient"
    assert classify_litellm(lt.ServiceUnavailableError("x", "openai", "m")) == "transient"
    assert classify_litellm(lt.BadRequestError("x", "m", "openai")) is None
    assert LiteLLMInvoker().classify_error(lt.InternalServerError("x", "openai", "m")) == "transient"
    assert classify_litellm(ValueError("x")) is None


def test_tool_message_without_tool_call_id_is_a_value_error():
    d = dialog("hi")
    d.append(Message(role=Roles.TOOL, content="42", name="calc"))
    with pytest.raises(ValueError, match="calc"):
        run(LiteLLMInvoker().acall(d, "openai/gpt-4o", {"api_base": "http://127.0.0.1:9/v1", "api_key": "k"}))


def test_anthropic_through_litellm_matches_native_invoker():
    """The same recording through LiteLLM and through the native invoker: same text, usage and cost."""
    sys_text = "You are a helpful assistant.\n\n"
    results = []
    for inv in (LiteLLMInvoker(), AnthropicInvoker()):
        with CassetteServer.from_cassette("anthropic/test_anthropic_model_instructions.yaml") as server:
            res = run(
                inv.acall(
                    dialog("What is the capital of France?", sys_text),
                    "anthropic/claude-3-opus-latest",
                    {"api_base": server.url, "api_key": "sk-ant"},
                )
            )
            assert server.requests[0]["json"]["system"] in (sys_text, [{"type": "text", "text": sys_text}])
        results.append(res)
    lite, native = (r.message for r in results)
    assert lite.content == native.content and lite.role == native.role and lite.model == native.model
    for key in ("prompt_tokens", "completion_tokens", "total_tokens", "cached_prompt_tokens", "cost"):
        assert lite.usage[key] == pytest.approx(native.usage[key]), key


def test_responses_api_with_builtin_tools(cassette):
    server = cassette("openai-responses/test_openai_responses_model_simple_response.yaml")
    d = Dialog()
    d.put_prompt(
        Prompt(
            "ask",
            "What is the capital of France?",
            addon_args={"web_search": True, "computer_use": {"display_width": 1024}},
        )
    )
    res = run(LiteLLMInvoker().acall(d, "openai/gpt-4o", oa(server), api_type=APITypes.RESPONSE))
    server.assert_all_served()
    body = server.requests[0]["json"]
    assert body["input"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert {"type": "web_search_preview"} in body["tools"]
    assert {
        "type": "computer_use_preview",
        "display_width": 1024,
        "display_height": 800,
        "environment": "browser",
    } in body["tools"]
    assert res.message.content == "The capital of France is Paris." and res.request["api_type"] == "response"
    assert (res.message.usage["prompt_tokens"], res.message.usage["completion_tokens"]) == (14, 8)
    assert res.cost.cost > 0


def test_responses_api_stream_tool_call_round_trip(cassette):
    server = cassette("openai-responses/test_openai_responses_stream.yaml")
    fn = Function("get_capital", "", {"country": {"type": "string"}}, ["country"])
    d = dialog("What is the capital of France?")
    inv = LiteLLMInvoker()
    h = Collect()
    res = run(inv.acall(d, "openai/gpt-4o", oa(server), api_type=APITypes.RESPONSE, stream_handler=h, functions=[fn]))
    assert server.requests[0]["json"]["stream"] is True
    assert [t["name"] for t in server.requests[0]["json"]["tools"]] == ["get_capital"]
    (call,) = res.message.function_calls
    assert call.name == "get_capital" and call.arguments == {"country": "France"} and h.done == 1
    d.append(res.message)
    tool_result(d, call.id, "Paris")
    res2 = run(inv.acall(d, "openai/gpt-4o", oa(server), api_type=APITypes.RESPONSE, stream_handler=h, functions=[fn]))
    server.assert_all_served()
    sent = server.requests[1]["json"]["input"]
    assert sent[1]["type"] == "function_call" and sent[1]["call_id"] == call.id
    assert sent[2] == {"type": "function_call_output", "call_id": call.id, "output": "Paris"}
    assert "".join(h.tokens) == res2.message.content and "Paris" in res2.message.content and h.done == 2


def test_responses_api_rejects_format_before_any_call():
    d = Dialog()
    d.put_prompt(Prompt("ask", "Capital?", format=Answer))
    with pytest.raises(ConfigError, match="ask"):
        run(
            LiteLLMInvoker().acall(
                d, "openai/gpt-4o", {"api_base": "http://127.0.0.1:9/v1", "api_key": "k"}, api_type=APITypes.RESPONSE
            )
        )


def test_import_does_not_load_litellm():
    code = (
        "import sys, lllm.invokers.litellm; assert 'litellm' not in sys.modules and 'genai_prices' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_provider_error_carries_the_request_like_the_native_invokers(cassette):
    """The agent loop records a failed attempt's ``exc.request`` (§9.3 item 1)."""
    server = cassette("openai/test_model_name_suggestion[openai-chat].yaml")
    with pytest.raises(ProviderError) as ei:
        run(LiteLLMInvoker().acall(dialog("hello"), "openai/gpt-5.2-proo", oa(server)))
    req = ei.value.request
    assert req["model"] == "openai/gpt-5.2-proo" and req["body"]["messages"][0]["content"] == "hello"
    assert "api_key" not in req["body"]


async def _aiter(items):
    for x in items:
        yield x


@pytest.mark.parametrize(
    "code, kind", [("rate_limit_exceeded", "rate_limit"), ("server_error", "transient"), ("invalid_prompt", None)]
)
def test_responses_stream_error_event_classified_like_native(code, kind):
    events = [
        {"type": "response.created", "response": {}},
        {"type": "error", "code": code, "message": "went wrong", "param": None},
    ]
    with pytest.raises(ProviderError) as ei:
        run(LiteLLMInvoker._consume_responses_stream(_aiter(events), None))
    assert ei.value.kind == kind and "went wrong" in str(ei.value)


def test_stream_keeps_logprobs_and_reasoning_like_native():
    lp = [{"token": "Hi", "logprob": -0.1, "bytes": None, "top_logprobs": []}]
    chunks = [
        {"model": "m", "choices": [{"index": 0, "delta": {"reasoning_content": "think"}}]},
        {"model": "m", "choices": [{"index": 0, "delta": {"content": "Hi"}, "logprobs": {"content": lp}}]},
        {"model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    out, raw = run(LiteLLMInvoker._consume_stream(_aiter(chunks), None))
    assert out.content == "Hi" and out.logprobs == lp and out.metadata["reasoning"] == "think"
    assert out.finish_reason == "stop" and len(raw) == 3
