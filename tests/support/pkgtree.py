"""Build package trees for package-system tests: ``write_tree(root, {"a/lllm.toml": "...", ...})``."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict

import pytest

ISOLATED_ENV = (
    "LLLM_CONFIG",
    "LLLM_STRICT",
    "LLLM_TRUSTED_PACKAGES",
    "LLLM_CONFIG_PROFILE",
    "LLLM_AUTO_CWD_FALLBACK",
    "LLLM_AUTO_SHARED_PACKAGES",
)


def write_tree(root: Path, files: Dict[str, str]) -> Path:
    """Write ``files`` (relative path -> text, dedented) under ``root``; returns ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def isolate(monkeypatch, tmp_path: Path) -> Path:
    """No machine state: ``LLLM_HOME`` in ``tmp_path/home``, cwd ``tmp_path/cwd``, no LLLM_* overrides."""
    for var in ISOLATED_ENV:
        monkeypatch.delenv(var, raising=False)
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("LLLM_HOME", str(home))
    monkeypatch.chdir(cwd)
    return cwd


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Each test gets its own LLLM_HOME and working folder (see ``isolate``)."""
    isolate(monkeypatch, tmp_path)


@pytest.fixture(autouse=True)
def fresh_default_runtime():
    """Each test starts with an empty default runtime; the previous one is put back after."""
    from lllm.packages.runtime import Runtime, get_default_runtime, set_default_runtime

    saved = get_default_runtime()
    set_default_runtime(Runtime("default"))
    yield
    set_default_runtime(saved)
