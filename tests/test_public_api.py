"""The public API: every exported name resolves, the 0.1.x module paths import, and `import lllm` stays cheap."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import lllm

SPEC_NAMES = [
    "Tactic",
    "Agent",
    "Prompt",
    "Dialog",
    "Message",
    "Function",
    "tool",
    "tactictool",
    "vendor_config",
    "load_tool",
    "Proxy",
    "AgentCallError",
    "MCP",
    "DefaultTagParser",
    "build_tactic",
    "LogStore",
]
OLD_MODULES = [
    "lllm.core.prompt",
    "lllm.core.dialog",
    "lllm.core.agent",
    "lllm.core.tactic",
    "lllm.core.runtime",
    "lllm.core.resource",
    "lllm.core.config",
    "lllm.core.const",
    "lllm.invokers",
    "lllm.invokers.base",
    "lllm.invokers.litellm",
    "lllm.proxies",
    "lllm.sandbox",
    "lllm.logging",
    "lllm.testing",
    "lllm.errors",
]


def test_every_exported_name_resolves():
    assert all(hasattr(lllm, name) for name in lllm.__all__), [n for n in lllm.__all__ if not hasattr(lllm, n)]
    assert set(SPEC_NAMES) <= set(lllm.__all__)


def test_module_paths_of_0_1_x_import():
    for name in OLD_MODULES:
        importlib.import_module(name)
    from lllm.core.dialog import Message  # noqa: F401 - re-exported for compatibility
    from lllm.core.prompt import DefaultTagParser, Function, tool  # noqa: F401


def test_import_lllm_loads_no_provider_stack():
    code = (
        "import sys, json, lllm; from lllm import Tactic, Agent, Prompt, Function\n"
        "print(json.dumps([m for m in ('aiohttp', 'genai_prices', 'litellm', 'openai', 'jsonschema', "
        "'opentelemetry', 'psycopg', 'yaml') if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"LLLM_AUTO_INIT": "0", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
