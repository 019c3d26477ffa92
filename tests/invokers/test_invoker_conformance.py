"""The invoker conformance suite (lllm.invokers.conformance) on the invokers we ship: the native
OpenAI-compatible invoker and LiteLLM over real HTTP against the fake OpenAI server, and the offline TestInvoker."""

from __future__ import annotations

import pytest

from lllm.invokers.conformance import InvokerConformance


class TestOpenAIInvoker(InvokerConformance):
    @pytest.fixture
    def invoker(self, fake_servers):
        from lllm.invokers.openai import OpenAIInvoker

        return OpenAIInvoker({"api_base": fake_servers("--tool-calls", "1"), "api_key": "sk-conformance"})

    @pytest.fixture
    def model(self):
        return "openai/fake-model"


class TestLiteLLMInvoker(InvokerConformance):
    @pytest.fixture
    def invoker(self, fake_servers):
        pytest.importorskip("litellm", reason="litellm is not installed (pip install 'lllm[litellm]')")
        from lllm.invokers.litellm import LiteLLMInvoker

        self.base = fake_servers("--tool-calls", "1")
        return LiteLLMInvoker({"api_base": self.base, "api_key": "sk-conformance"})

    @pytest.fixture
    def model(self):
        return "openai/fake-model"


class TestTestInvoker(InvokerConformance):
    @pytest.fixture
    def invoker(self):
        from lllm.testing import TestInvoker

        return TestInvoker()

    @pytest.fixture
    def model(self):
        return "test"
