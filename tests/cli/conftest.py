"""Package-system tests run in temporary folders with their own LLLM_HOME, never the machine's."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # makes `support` importable
from support.pkgtree import isolate  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)


@pytest.fixture(autouse=True)
def _fresh_default_runtime():
    from lllm.core.runtime import Runtime, get_default_runtime, set_default_runtime
    saved = get_default_runtime()
    set_default_runtime(Runtime("default"))
    yield
    set_default_runtime(saved)
