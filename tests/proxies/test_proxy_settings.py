"""A ``proxy:`` block's ``max_memory_mb`` is checked where it is written (review session 7).

A value YAML reads as a string (``max_memory_mb: 512MB``) or a float was accepted, and the agent's first
``run_python`` then failed with ``TypeError: unsupported operand type(s) for <<`` from inside the sandbox
backend, every time; a negative one silently meant no memory limit at all."""

from __future__ import annotations

import pytest

from lllm.errors import ConfigError
from lllm.proxies import proxy_settings
from lllm.sandbox import AgentInterpreter, SubprocessExecutor


@pytest.mark.parametrize("value", ["512MB", "512", 0.5, -1, True])
def test_a_bad_max_memory_mb_is_a_config_error_naming_it(value):
    with pytest.raises(ConfigError, match="max_memory_mb"):
        proxy_settings({"max_memory_mb": value})


@pytest.mark.parametrize("value", [None, 0, 256])
def test_good_max_memory_mb_values_pass(value):
    assert proxy_settings({"max_memory_mb": value})["max_memory_mb"] == value


@pytest.mark.parametrize("value", ["512", 0.5, -1])
def test_the_interpreter_and_the_executor_refuse_a_bad_memory_limit_at_once(value):
    with pytest.raises(ValueError, match="max_memory_mb"):
        AgentInterpreter(backend="subprocess", max_memory_mb=value)
    with pytest.raises(ValueError, match="max_memory_mb"):
        SubprocessExecutor(max_memory_mb=value)


@pytest.mark.parametrize("name", ["max_processes", "max_file_mb", "max_output_bytes", "max_total_memory_mb"])
def test_the_executor_refuses_other_bad_limits(name):
    with pytest.raises(ValueError, match=name):
        SubprocessExecutor(**{name: "64"})
