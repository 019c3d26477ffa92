"""The shared invoker template (``ProviderInvoker``) and context windows read from genai-prices."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

import pytest

from lllm.core.const import APITypes
from lllm.core.context import DefaultContextManager
from lllm.core.dialog import Dialog
from lllm.core.message import FunctionCall, Message
from lllm.errors import ProviderError
from lllm.invokers import context_windows, http
from lllm.invokers.anthropic import AnthropicInvoker
from lllm.invokers.base import BaseInvoker, ModelOutput, PreparedRequest, ProviderInvoker, request_record
from lllm.invokers.litellm import LiteLLMInvoker
from lllm.invokers.openai import OpenAIInvoker, parse_chat
from lllm.testing import MockInvoker


def library_window(model: str, provider: Optional[str] = None) -> Optional[int]:
    """What genai-prices itself says, read straight from its table."""
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot().find_provider_model(model, None, provider, None)[1].context_window


def dialog(text: str = "hello") -> Dialog:
    d = Dialog()
    d.append(Message(role="user", content=text, name="user"))
    return d


# -- context windows --------------------------------------------------------------------------------------


def test_gpt_5_1_window_is_the_librarys_not_the_fallback():
    expected = library_window("gpt-5.1", "openai")
    assert expected and expected != DefaultContextManager.FALLBACK_WINDOW
    assert OpenAIInvoker().context_window("gpt-5.1") == expected
    assert OpenAIInvoker().context_window("openai/gpt-5.1") == expected
    cm = DefaultContextManager("openai/gpt-5.1", window_lookup=OpenAIInvoker().context_window)
    assert cm.window == expected


def test_every_invoker_reads_the_library():
    expected = library_window("gpt-5.1", "openai")
    # LiteLLM's own table answers once LiteLLM is loaded; genai-prices (and the overrides) answer the rest
    assert LiteLLMInvoker().context_window("anthropic/claude-future-9") == context_windows.FAMILY_DEFAULTS["claude"]
    assert MockInvoker([]).context_window("openai/gpt-5.1") == expected  # BaseInvoker's default
    assert AnthropicInvoker().context_window("claude-sonnet-4-5") == library_window("claude-sonnet-4-5", "anthropic")


def test_overrides_where_the_library_is_wrong_or_silent():
    assert OpenAIInvoker().context_window("openai/gpt-4.1-mini") == context_windows.OVERRIDES["gpt-4.1"]
    assert AnthropicInvoker().context_window("claude-future-9") == context_windows.FAMILY_DEFAULTS["claude"]
    assert AnthropicInvoker().context_window("gpt-4o") is None  # not a model Anthropic serves


def test_local_servers_and_unknown_models_have_no_window():
    assert OpenAIInvoker().context_window("ollama/llama3.1") is None  # whatever the server was started with
    assert OpenAIInvoker().context_window("gpt-unknown-9") is None
    assert MockInvoker([]).context_window("mock-model") is None


def test_unknown_model_falls_back_to_the_documented_default_with_one_log_line(caplog):
    cm = DefaultContextManager("openai/gpt-unknown-9", window_lookup=OpenAIInvoker().context_window)
    with caplog.at_level(logging.DEBUG):
        assert cm.window == DefaultContextManager.FALLBACK_WINDOW == 4096
        assert cm.window == 4096
    lines = [r for r in caplog.records if "gpt-unknown-9" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert "unknown; assuming 4096 tokens" in lines[0].getMessage()


def test_lookup_is_cached(monkeypatch):
    calls: List[Tuple[Optional[str], str]] = []
    real = context_windows._from_table

    def counting(provider: Optional[str], name: str) -> Optional[int]:
        calls.append((provider, name))
        return real(provider, name)

    monkeypatch.setattr(context_windows, "_from_table", counting)
    monkeypatch.setattr(context_windows, "_cache", {})
    first = context_windows.context_window("gpt-4o-mini", "openai")
    assert first == library_window("gpt-4o-mini", "openai")
    assert context_windows.context_window("gpt-4o-mini", "openai") == first and calls == [("openai", "gpt-4o-mini")]


def test_a_broken_table_is_logged_not_fatal(monkeypatch, caplog, table_cache_dir):
    from genai_prices import data_snapshot

    def broken() -> Any:
        raise RuntimeError("table unreadable")

    monkeypatch.setattr(data_snapshot, "get_snapshot", broken)
    monkeypatch.setattr(context_windows, "_cache", {})
    table_cache_dir("off")  # the table itself, not an earlier lookup's cached answer
    with caplog.at_level(logging.WARNING, logger="lllm.invokers"):
        assert context_windows.context_window("gpt-5.1", "openai") is None
    assert "Context window of model 'gpt-5.1' could not be read from genai-prices: table unreadable" in caplog.text


# -- the template ------------------------------------------------------------------------------------------


class PlainChat(ProviderInvoker):
    """A minimal provider on the template: Chat Completions without tools, no streaming."""

    name = "plain"

    def build_request(
        self,
        dialog: Dialog,
        prompt: Any,
        model: str,
        model_args: Dict[str, Any],
        api_type: APITypes,
        functions: Any,
        stream: bool,
    ) -> PreparedRequest:
        body = {"model": model, "messages": [{"role": "user", "content": m.content} for m in dialog.messages]}
        url = model_args["api_base"] + "/chat/completions"
        return PreparedRequest(
            "plain",
            model,
            body,
            request_record("plain", url, model, body, api_type, stream),
            {},
            stream,
            False,
            url,
            {"Authorization": "Bearer sk-test"},
        )

    async def send_request(self, req: PreparedRequest) -> Tuple[ModelOutput, Any]:
        _, _, raw = await http.post_json(req.url, req.headers, req.body, req.timeout, provider=req.provider)
        if self.config.get("foreign_error"):
            raise LookupError("an SDK's own exception")
        return parse_chat(raw, req.provider), raw

    async def stream_request(self, req: PreparedRequest, handler: Any) -> Tuple[ModelOutput, Any]:
        raise NotImplementedError("PlainChat does not stream")

    def translate_error(self, exc: Exception, req: PreparedRequest) -> Optional[ProviderError]:
        if self.config.get("translate"):
            return ProviderError(f"plain: {exc}", kind="transient", provider="plain")
        return None


async def test_template_wraps_a_provider_into_an_invoke_result(fake_servers):
    url = fake_servers()
    res = await PlainChat().acall(dialog(), "fake-model", {"api_base": url})
    assert res.message.content and res.message.usage["prompt_tokens"] > 0
    assert res.request["provider"] == "plain" and res.request["body"]["messages"] == [
        {"role": "user", "content": "hello"}
    ]
    assert res.latency_s > 0 and res.started_at > 0 and res.raw_response["choices"]


async def test_template_attaches_the_request_to_provider_errors(fake_servers):
    url = fake_servers("--p429", "1", "--retry-after", "0")
    with pytest.raises(ProviderError) as ei:
        await PlainChat().acall(dialog("first"), "fake-model", {"api_base": url})
    assert ei.value.status == 429 and ei.value.kind == "rate_limit"
    assert ei.value.request is not None and ei.value.request["body"]["messages"][0]["content"] == "first"


async def test_template_translates_foreign_errors_only_when_the_provider_says_so(fake_servers):
    url = fake_servers()
    with pytest.raises(LookupError):  # not translated: a bug surfaces as itself
        await PlainChat({"foreign_error": True}).acall(dialog(), "fake-model", {"api_base": url})
    with pytest.raises(ProviderError) as ei:
        await PlainChat({"foreign_error": True, "translate": True}).acall(dialog(), "fake-model", {"api_base": url})
    assert isinstance(ei.value.__cause__, LookupError) and ei.value.kind == "transient"
    assert ei.value.request is not None and ei.value.request["model"] == "fake-model"


def test_provider_error_declares_request():
    assert ProviderError("x").request is None
    assert ProviderError("x", request={"url": "u"}).request == {"url": "u"}


def test_base_invoker_answers_no_recorded_tool_call():
    call = FunctionCall(id="c1", name="f", arguments={})
    assert MockInvoker([]).recorded_tool_call("agent", call) is None
    assert isinstance(MockInvoker([]), BaseInvoker)
