"""A conformance test suite for sandbox executors (needs pytest), reusable for third-party backends.

Mix the class into a test class of yours that provides a ``new_executor`` fixture returning a
zero-argument factory of fresh executors::

    from lllm.sandbox.conformance import ExecutorConformance

    class TestMyContainer(ExecutorConformance):
        @pytest.fixture
        def new_executor(self):
            return lambda: ContainerExecutor(image="python:3.11-slim")

It checks the contract ``AgentInterpreter`` relies on (§8.2): a persistent namespace, output captured in
order, the last expression not echoed, ``CALL_API`` answered by the parent (JSON results, typed errors),
tracebacks without framework frames, ``reset``/``close``, and timeouts (a stop, where ``can_stop``)."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterator, List

import pytest

from lllm.sandbox.executor import ExecResult, Executor


def _api(path: str, params: Dict[str, Any]) -> Any:
    if path == "echo":
        return {"path": path, "params": params}
    if path == "tuple-keys":
        return {(1, 2): "x"}
    raise LookupError(f"no endpoint {path!r}")


class ExecutorConformance:
    """Checks an Executor against the contract of §8.2."""

    @pytest.fixture
    def executor(self, new_executor: Callable[[], Executor]) -> Iterator[Executor]:
        made: List[Executor] = []

        def make() -> Executor:
            ex = new_executor()
            made.append(ex)
            return ex

        yield make()
        for ex in made:
            ex.close()

    def run(self, executor: Executor, code: str, timeout: float = 20.0) -> ExecResult:
        return executor.run(code, timeout=timeout, api=_api)

    def test_namespace_persists_and_the_last_expression_is_not_echoed(self, executor: Executor) -> None:
        assert self.run(executor, "x = 20\nx + 1").output == ""
        assert self.run(executor, "print(x + 22)").output == "42\n"

    def test_stdout_and_stderr_in_order(self, executor: Executor) -> None:
        r = self.run(executor, "import sys\nprint('a')\nprint('b', file=sys.stderr)\nprint('c')")
        assert r.status == "ok" and r.output == "a\nb\nc\n"

    def test_call_api_reaches_the_parent_and_returns_json(self, executor: Executor) -> None:
        r = self.run(executor, "print(CALL_API('echo', {'q': [1, 2]}))")
        assert r.output == "{'path': 'echo', 'params': {'q': [1, 2]}}\n"
        assert self.run(executor, "print(type(CALL_API('tuple-keys', {})).__name__)").output == "str\n"

    def test_call_api_errors_raise_in_user_code_with_their_type(self, executor: Executor) -> None:
        r = self.run(executor, "try:\n    CALL_API('nope', {})\nexcept LookupError as e:\n    print('caught', e)")
        assert r.output == "caught no endpoint 'nope'\n"

    def test_errors_come_back_as_user_tracebacks(self, executor: Executor) -> None:
        r = self.run(executor, "def f():\n    return 1 / 0\nf()")
        assert r.status == "error" and r.error is not None and "ZeroDivisionError" in r.error and "in f" in r.error
        assert "lllm" not in r.error, "framework frames must not show in the traceback"

    def test_reset_clears_the_namespace(self, executor: Executor) -> None:
        self.run(executor, "kept = 1")
        executor.reset()
        assert "NameError" in (self.run(executor, "print(kept)").error or "")

    def test_close_then_run_starts_over(self, executor: Executor) -> None:
        self.run(executor, "kept = 1")
        executor.close()
        assert self.run(executor, "print('again')").output == "again\n"

    def test_a_timeout_stops_runaway_code(self, executor: Executor) -> None:
        if not executor.can_stop:
            pytest.skip("this backend cannot stop running code (can_stop = False)")
        t0 = time.monotonic()
        r = self.run(executor, "while True:\n    pass", timeout=1.0)
        assert r.status == "timeout" and time.monotonic() - t0 < 10
        assert self.run(executor, "print('alive')").output == "alive\n"


__all__ = ["ExecutorConformance"]
