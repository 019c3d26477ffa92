"""Build package trees for package-system tests: ``write_tree(root, {"a/lllm.toml": "...", ...})``."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict

ISOLATED_ENV = ("LLLM_CONFIG", "LLLM_STRICT", "LLLM_TRUSTED_PACKAGES", "LLLM_CONFIG_PROFILE",
                "LLLM_AUTO_CWD_FALLBACK", "LLLM_AUTO_SHARED_PACKAGES")


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
