"""A conformance test suite for invokers (needs pytest), reusable for third-party invokers.

Every invoker must look the same to the agent loop (§4): the same ``InvokeResult`` and ``Message``
shapes, roles, tool-call ids, usage keys, cost, request record, streaming and error classes. Mix the
class into a test class of yours that provides an ``invoker`` fixture and a ``model`` fixture, where the
model answers like LLLM's scripted backends do: a turn offered tools calls one of them, a turn after
tool results (or without tools) answers with text::

    from lllm.invokers.conformance import InvokerConformance

    class TestMyInvoker(InvokerConformance):
        @pytest.fixture
        def invoker(self):
            return MyInvoker({...})

        @pytest.fixture
        def model(self):
            return "my-model"

``tests/invokers/test_invoker_conformance.py`` runs it for the native OpenAI-compatible invoker and
LiteLLM (against the fake OpenAI server) and for the offline ``TestInvoker``."""

from __future__ import annotations

import asyncio
import json
from typing import List

from lllm.core.const import Roles
from lllm.core.dialog import Dialog
from lllm.core.message import Message
from lllm.core.stream import BaseStreamHandler
from lllm.core.tools import Function
from lllm.errors import ProviderError
from lllm.invokers.base import BaseInvoker, InvokeResult

USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens", "cost")


def weather_tool() -> Function:
    def get_weather(city: str) -> str:
        """Get the current weather for a city.

        Args:
            city: Name of the city.
        """
        return f"sunny in {city}"

    return Function.from_callable(get_weather)


def ask(text: str = "What is the weather in Paris?") -> Dialog:
    d = Dialog(owner="conformance")
    d.put_text("You are a helpful assistant.", name="system", role=Roles.SYSTEM)
    d.put_text(text)
    return d


class _Collect(BaseStreamHandler):
    def __init__(self) -> None:
        self.pieces: List[str] = []
        self.done = 0

    def on_token(self, text: str) -> None:
        self.pieces.append(text)

    def on_done(self) -> None:
        self.done += 1


def check_result(result: InvokeResult, model: str) -> Message:
    """What every InvokeResult must hold, whatever the provider."""
    assert isinstance(result, InvokeResult) and not result.execution_errors, result.error_message
    msg = result.message
    assert isinstance(msg, Message) and msg.name == "conformance"
    assert all(k in msg.usage for k in USAGE_KEYS), msg.usage
    assert msg.usage["total_tokens"] >= msg.usage["prompt_tokens"] >= 0 and msg.usage["cost"] >= 0
    assert msg.cost.total_tokens == msg.usage["total_tokens"]
    assert isinstance(result.request, dict) and result.request, "the request sent must be recorded (§9.3)"
    assert "api_key" not in json.dumps(result.request, default=str)
    assert result.latency_s >= 0 and result.started_at > 0
    return msg


class InvokerConformance:
    """Checks an invoker against the contract the agent loop relies on."""

    def test_text_answer(self, invoker: BaseInvoker, model: str) -> None:
        msg = check_result(invoker.call(ask(), model, responder="conformance", functions=[]), model)
        assert msg.role == Roles.ASSISTANT and isinstance(msg.content, str) and msg.content
        assert msg.function_calls == [] and msg.parsed.get("raw") == msg.content

    def test_tool_call_then_follow_up(self, invoker: BaseInvoker, model: str) -> None:
        tool = weather_tool()
        d = ask()
        msg = check_result(invoker.call(d, model, responder="conformance", functions=[tool]), model)
        assert msg.role == Roles.TOOL_CALL and msg.function_calls
        call = msg.function_calls[0]
        assert call.id and call.name == "get_weather" and isinstance(call.arguments.get("city"), str)
        d.append(msg)
        for c in msg.function_calls:  # every id answered exactly once, as the agent loop does
            d.put_text(
                f"sunny in {c.arguments.get('city')}", name=c.name, role=Roles.TOOL, metadata={"tool_call_id": c.id}
            )
        final = check_result(invoker.call(d, model, responder="conformance", functions=[]), model)
        assert final.role == Roles.ASSISTANT and final.content

    def test_async_matches_sync(self, invoker: BaseInvoker, model: str) -> None:
        result = asyncio.run(invoker.acall(ask(), model, responder="conformance", functions=[]))
        assert check_result(result, model).role == Roles.ASSISTANT

    def test_streaming_delivers_the_same_text_once(self, invoker: BaseInvoker, model: str) -> None:
        handler = _Collect()
        msg = check_result(
            invoker.call(ask(), model, responder="conformance", stream_handler=handler, functions=[]), model
        )
        assert "".join(handler.pieces) == msg.content and handler.done == 1

    def test_metadata_is_attached_to_the_message(self, invoker: BaseInvoker, model: str) -> None:
        msg = check_result(
            invoker.call(ask(), model, responder="conformance", metadata={"trace": "t1"}, functions=[]), model
        )
        assert msg.metadata["trace"] == "t1"

    def test_error_classes(self, invoker: BaseInvoker, model: str) -> None:
        classify = invoker.classify_error
        assert classify(ProviderError("429", status=429, kind="rate_limit")) == "rate_limit"
        assert classify(ProviderError("503", status=503, kind="transient")) == "transient"
        assert classify(ProviderError("400", status=400, kind=None)) is None
        assert classify(asyncio.TimeoutError()) == "transient" and classify(ConnectionResetError()) == "transient"
        assert classify(KeyError("a bug")) is None


__all__ = ["InvokerConformance", "check_result", "weather_tool", "ask"]
