"""§4.1 routing, endpoint/key resolution at call time, AutoInvoker dispatch and registrations."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from lllm.core.dialog import Dialog
from lllm.errors import ConfigError, ProviderError
from lllm.invokers import build_invoker, registered_invokers
from lllm.invokers.base import BaseInvoker, InvokeResult
from lllm.invokers.openai import OpenAIInvoker
from lllm.invokers.router import OPENAI_COMPATIBLE, PROVIDERS, AutoInvoker, openai_target, resolve_endpoint, route

ALL_ENV = [v for p in PROVIDERS.values() for v in p.base_env + p.key_env] + ["AZURE_API_VERSION"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for v in ALL_ENV:
        monkeypatch.delenv(v, raising=False)


@pytest.mark.parametrize("provider", sorted(OPENAI_COMPATIBLE))
def test_openai_compatible_prefixes(provider):
    assert route(f"{provider}/some-model") == ("openai", provider, "some-model")


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "gpt-4.1-mini",
        "gpt-5",
        "o1",
        "o1-mini",
        "o3-mini",
        "o4-mini",
        "chatgpt-4o-latest",
        "text-embedding-3-small",
        "ft:gpt-4o-mini:org::abc",
        "davinci-002",
        "codex-mini-latest",
    ],
)
def test_bare_openai_names(model):
    assert route(model) == ("openai", "openai", model)


def test_anthropic_test_and_nested_names():
    assert route("anthropic/claude-sonnet-4-5") == ("anthropic", "anthropic", "claude-sonnet-4-5")
    assert route("claude-3-5-haiku-latest") == ("anthropic", "anthropic", "claude-3-5-haiku-latest")
    assert route("test") == ("test", "test", "test") and route("lllm/test")[0] == "test"
    assert route("openrouter/google/gemini-2.0-flash") == ("openai", "openrouter", "google/gemini-2.0-flash")
    assert route("groq/meta-llama/llama-4-scout") == ("openai", "groq", "meta-llama/llama-4-scout")


@pytest.mark.parametrize(
    "model", ["gemini/gemini-2.5-flash", "bedrock/anthropic.claude-v2", "llama3", "meta-llama/Llama-3-8b"]
)
def test_unknown_provider_without_litellm_is_a_config_error(model, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "litellm" else real(n, *a))
    with pytest.raises(ConfigError) as ei:
        route(model)
    assert "pip install 'lllm[litellm]'" in str(ei.value) and model in str(ei.value)


def test_unknown_provider_with_litellm_routes_to_litellm(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "litellm" else real(n, *a))
    assert route("gemini/gemini-2.5-flash") == ("litellm", "gemini", "gemini/gemini-2.5-flash")
    assert route("llama3") == ("litellm", "", "llama3")


def test_empty_model_name():
    with pytest.raises(ConfigError):
        route("")


def test_forced_openai_target_strips_known_prefixes_only():
    assert openai_target("gpt-4o") == ("openai", "gpt-4o")
    assert openai_target("openai/gpt-4o") == ("openai", "gpt-4o")
    assert openai_target("groq/llama-3.3-70b") == ("groq", "llama-3.3-70b")
    assert openai_target("anthropic/claude-sonnet-4-5") == ("openai", "claude-sonnet-4-5")
    assert openai_target("gemini/gemini-2.5-flash") == ("openai", "gemini-2.5-flash")
    assert openai_target("meta-llama/Llama-3-8b") == ("openai", "meta-llama/Llama-3-8b")  # a served model id
    assert openai_target("claude-3-5-haiku") == ("openai", "claude-3-5-haiku")


# ---------------------------------------------------------------------------------------------
# endpoints and keys
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "provider, env_key, url",
    [
        ("openai", "OPENAI_API_KEY", "https://api.openai.com/v1/chat/completions"),
        ("groq", "GROQ_API_KEY", "https://api.groq.com/openai/v1/chat/completions"),
        ("mistral", "MISTRAL_API_KEY", "https://api.mistral.ai/v1/chat/completions"),
        ("openrouter", "OPENROUTER_API_KEY", "https://openrouter.ai/api/v1/chat/completions"),
        ("deepseek", "DEEPSEEK_API_KEY", "https://api.deepseek.com/v1/chat/completions"),
        ("xai", "XAI_API_KEY", "https://api.x.ai/v1/chat/completions"),
        ("together_ai", "TOGETHERAI_API_KEY", "https://api.together.xyz/v1/chat/completions"),
        ("fireworks_ai", "FIREWORKS_AI_API_KEY", "https://api.fireworks.ai/inference/v1/chat/completions"),
    ],
)
def test_key_from_env_at_call_time(provider, env_key, url, monkeypatch):
    with pytest.raises(ProviderError) as ei:
        resolve_endpoint(provider, "m")
    assert ei.value.kind is None and env_key in str(ei.value)
    monkeypatch.setenv(env_key, f"key-{provider}")  # set after import: read at call time
    ep = resolve_endpoint(provider, "m")
    assert ep.url == url and ep.headers["Authorization"] == f"Bearer key-{provider}" and ep.official


def test_model_args_win_over_env(monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "env-key")
    ep = resolve_endpoint("groq", "m", api_key="arg-key", api_base="http://127.0.0.1:1/v1/")
    assert ep.url == "http://127.0.0.1:1/v1/chat/completions" and ep.headers["Authorization"] == "Bearer arg-key"
    assert not ep.official


def test_openai_custom_base_from_env_needs_no_key(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")
    ep = resolve_endpoint("openai", "gpt-4o")
    assert ep.url == "http://127.0.0.1:8080/v1/chat/completions" and "Authorization" not in ep.headers


@pytest.mark.parametrize(
    "provider, env, url",
    [
        ("ollama", None, "http://localhost:11434/v1/chat/completions"),
        ("ollama_chat", ("OLLAMA_API_BASE", "http://10.0.0.2:11434"), "http://10.0.0.2:11434/v1/chat/completions"),
        ("hosted_vllm", ("HOSTED_VLLM_API_BASE", "http://gpu:8000/v1"), "http://gpu:8000/v1/chat/completions"),
        ("vllm", None, "http://localhost:8000/v1/chat/completions"),
        ("lm_studio", ("LM_STUDIO_API_BASE", "http://127.0.0.1:1234"), "http://127.0.0.1:1234/v1/chat/completions"),
    ],
)
def test_local_servers(provider, env, url, monkeypatch):
    if env:
        monkeypatch.setenv(*env)
    ep = resolve_endpoint(provider, "llama3")
    assert ep.url == url and "Authorization" not in ep.headers


def test_azure_deployment_url_and_api_key_header(monkeypatch):
    with pytest.raises(ProviderError, match="AZURE_API_BASE"):
        resolve_endpoint("azure", "my-gpt4o")
    monkeypatch.setenv("AZURE_API_BASE", "https://res.openai.azure.com/")
    with pytest.raises(ProviderError, match="AZURE_API_KEY"):
        resolve_endpoint("azure", "my-gpt4o")
    monkeypatch.setenv("AZURE_API_KEY", "az-key")
    monkeypatch.setenv("AZURE_API_VERSION", "2025-01-01-preview")
    ep = resolve_endpoint("azure", "my-gpt4o")
    assert ep.url == (
        "https://res.openai.azure.com/openai/deployments/my-gpt4o/chat/completions?api-version=2025-01-01-preview"
    )
    assert ep.headers["api-key"] == "az-key" and "Authorization" not in ep.headers


def test_extra_headers_are_merged():
    ep = resolve_endpoint("openrouter", "m", api_key="k", extra_headers={"X-Title": "lllm"})
    assert ep.headers["X-Title"] == "lllm" and ep.headers["Authorization"] == "Bearer k"


def test_missing_key_raised_at_call_time_by_the_invoker():
    d = Dialog()
    d.put_text("hi")
    with pytest.raises(ProviderError) as ei:
        OpenAIInvoker().call(d, "mistral/mistral-small-latest")
    assert ei.value.kind is None and "MISTRAL_API_KEY" in str(ei.value)


# ---------------------------------------------------------------------------------------------
# AutoInvoker and the registry
# ---------------------------------------------------------------------------------------------


def test_builtin_registrations():
    assert {"auto", "openai", "anthropic", "litellm", "test"} <= set(registered_invokers())
    assert isinstance(build_invoker({}), AutoInvoker)
    assert isinstance(build_invoker({"invoker": "openai"}), OpenAIInvoker)
    with pytest.raises(KeyError, match="Registered invokers"):
        build_invoker({"invoker": "nope"})


def test_litellm_invoker_without_litellm_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "litellm" else real(n, *a))
    with pytest.raises(ConfigError, match=r"lllm\[litellm\]"):
        build_invoker({"invoker": "litellm"})


class Recorder(BaseInvoker):
    name = "recorder"

    def __init__(self, config=None):
        super().__init__(config)
        self.calls = []

    def call(
        self,
        dialog,
        model,
        model_args=None,
        parser_args=None,
        responder="assistant",
        metadata=None,
        api_type=None,
        stream_handler=None,
        *,
        functions=None,
    ):
        self.calls.append((model, model_args))
        return InvokeResult()

    def classify_error(self, exc):
        return "transient" if isinstance(exc, KeyError) else None

    def context_window(self, model):
        return 42


def test_auto_dispatches_per_model_to_cached_invokers(monkeypatch):
    from lllm.invokers import base

    monkeypatch.setitem(base._BUILDERS, "openai", lambda cfg: Recorder(cfg))
    monkeypatch.setitem(base._BUILDERS, "anthropic", lambda cfg: Recorder(cfg))
    auto = AutoInvoker({"k": 1})
    d = Dialog()
    auto.call(d, "gpt-4o", {"a": 1})
    auto.call(d, "groq/llama3")
    auto.call(d, "claude-sonnet-4-5")
    oa, an = auto.invoker_for("gpt-4o"), auto.invoker_for("anthropic/claude-x")
    assert oa is not an and oa.config == {"k": 1}
    assert oa.calls == [("gpt-4o", {"a": 1}), ("groq/llama3", None)] and an.calls == [("claude-sonnet-4-5", None)]
    assert auto.classify_error(KeyError("x")) == "transient"
    assert auto.classify_error(ProviderError("x", kind="rate_limit")) == "rate_limit"
    assert auto.classify_error(ProviderError("x", kind=None)) is None
    assert auto.context_window("gpt-4o") == 42


async def test_auto_acall_dispatches(monkeypatch):
    from lllm.invokers import base

    monkeypatch.setitem(base._BUILDERS, "openai", lambda cfg: Recorder(cfg))
    auto = AutoInvoker()
    await auto.acall(Dialog(), "o3-mini", {"x": 1})
    assert auto.invoker_for("o3-mini").calls == [("o3-mini", {"x": 1})]


def test_auto_context_window_unknown_model_is_none(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "litellm" else real(n, *a))
    assert AutoInvoker().context_window("somewhere/unknown") is None
    assert AutoInvoker().context_window("gpt-4o") == 128000


def test_imports_stay_lazy():
    code = (
        "import sys, lllm.invokers, lllm.invokers.openai, lllm.invokers.router; "
        "print('aiohttp' in sys.modules, 'genai_prices' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
