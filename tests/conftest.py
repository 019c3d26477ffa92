"""Shared fixtures: keep tests offline and fast."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # makes tests/support importable as `support`

# No test may reach a real provider: make sure no key from the machine leaks into a test.
for _var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY", "OPENROUTER_API_KEY"):
    os.environ.pop(_var, None)

# `import lllm` auto-loads packages found from the cwd and in ~/.lllm; tests build their own (tests/packages).
os.environ["LLLM_AUTO_INIT"] = "0"

# The price-table cache (lllm.invokers.table_cache) goes to a directory of this test run, not ~/.lllm.
os.environ["LLLM_CACHE_DIR"] = tempfile.mkdtemp(prefix="lllm-test-cache-")


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch):
    """Retry backoff sleeps are real but scaled down; tests about Retry-After set it explicitly."""
    from lllm.core.agent import Agent

    monkeypatch.setattr(Agent, "backoff_scale", 0.001)


@pytest.fixture(scope="session")
def fake_servers():
    """``fake_servers("--p429", "1") -> base_url`` of a real fake OpenAI server (subprocess)."""
    from support.fake_server import FakeServers

    servers = FakeServers()
    yield servers
    servers.close()


@pytest.fixture(autouse=True)
def _session_store_in_tmp(monkeypatch, tmp_path):
    """`lllm run` and the examples record sessions; never into the repository."""
    monkeypatch.setenv("LLLM_STORE", str(tmp_path / "lllm-sessions.db"))
