"""The executor conformance suite (lllm.sandbox.conformance) on every shipped backend."""

from __future__ import annotations

import pytest

from lllm.sandbox import BwrapExecutor, InProcessExecutor, SubprocessExecutor, bwrap_status
from lllm.sandbox.conformance import ExecutorConformance


class TestSubprocessExecutor(ExecutorConformance):
    @pytest.fixture
    def new_executor(self):
        return lambda: SubprocessExecutor(max_memory_mb=512)


class TestInProcessExecutor(ExecutorConformance):
    @pytest.fixture
    def new_executor(self):
        return InProcessExecutor


@pytest.mark.skipif(not bwrap_status()[0], reason=f"bubblewrap is not usable here: {bwrap_status()[1]}")
class TestBwrapExecutor(ExecutorConformance):
    @pytest.fixture
    def new_executor(self):
        return lambda: BwrapExecutor(max_memory_mb=512)
