"""Fixtures of the `lllm serve` tests (helpers in serve_support.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # makes `support` importable
from serve_support import PACKAGE, Server  # noqa: E402
from support.pkgtree import fresh_default_runtime, isolated, write_tree  # noqa: E402,F401 - autouse fixtures

from lllm.cli import PROVIDER_KEYS  # noqa: E402


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No provider key: the served tactics run on the offline test model, as `lllm run` would."""
    for key in PROVIDER_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("LLLM_SERVE_TOKEN", raising=False)


@pytest.fixture
def package_dir(tmp_path) -> Path:
    write_tree(tmp_path / "pkgs", PACKAGE)
    return tmp_path / "pkgs/svc"


@pytest.fixture
def start():
    """``start(app)`` -> a running Server; every one is stopped after the test."""
    servers = []

    def make(app: Any) -> Server:
        servers.append(Server(app))
        return servers[-1]

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def store(tmp_path):
    from lllm.logging import sqlite_store

    s = sqlite_store(str(tmp_path / "sessions.db"))
    yield s
    s.close()
