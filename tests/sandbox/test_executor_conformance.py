"""The executor conformance suite (lllm.sandbox.conformance) on both shipped backends."""
from __future__ import annotations

import pytest

from lllm.sandbox import InProcessExecutor, SubprocessExecutor
from lllm.sandbox.conformance import ExecutorConformance


class TestSubprocessExecutor(ExecutorConformance):
    @pytest.fixture
    def new_executor(self):
        return lambda: SubprocessExecutor(max_memory_mb=512)


class TestInProcessExecutor(ExecutorConformance):
    @pytest.fixture
    def new_executor(self):
        return InProcessExecutor
