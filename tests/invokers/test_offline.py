"""The offline invokers stream like a provider: every streamed call ends with exactly one ``on_done``."""

from __future__ import annotations

from typing import List

from lllm.core.dialog import Dialog
from lllm.core.stream import BaseStreamHandler
from lllm.core.tools import Function
from lllm.invokers.offline import MockInvoker, TestInvoker, tool_calls


class Collect(BaseStreamHandler):
    def __init__(self) -> None:
        self.tokens: List[str] = []
        self.done = 0

    def on_token(self, text: str) -> None:
        self.tokens.append(text)

    def on_done(self) -> None:
        self.done += 1


def ask(text: str = "weather in Paris?") -> Dialog:
    d = Dialog()
    d.put_text(text)
    return d


def test_a_streamed_tool_call_turn_without_text_still_ends_the_stream():
    """A native invoker calls ``on_done`` once whatever the turn holds; a handler waiting for it (to close a UI
    stream) must not wait forever on a mocked tool-call turn."""
    h = Collect()
    res = MockInvoker([tool_calls(("get_weather", {"city": "Paris"}))]).call(ask(), "m", stream_handler=h)
    assert res.message.function_calls and h.tokens == [] and h.done == 1


def test_the_test_models_streamed_tool_call_turn_ends_the_stream():
    fn = Function("get_weather", "Weather of a city.", {"city": {"type": "string"}}, required=["city"])
    h = Collect()
    res = TestInvoker().call(ask(), "test", stream_handler=h, functions=[fn])
    assert res.message.function_calls and h.done == 1
