"""Modules that moved out of ``lllm.core`` keep their 0.1.x import paths, naming the very same module."""

from __future__ import annotations

import importlib
import subprocess
import sys
from unittest import mock

import pytest

from lllm.compat import MOVED_MODULES


@pytest.mark.parametrize("old,new", sorted(MOVED_MODULES.items()))
def test_the_old_path_is_the_new_module(old, new):
    moved = importlib.import_module(old)
    assert moved is importlib.import_module(new)
    assert moved.__spec__.name == new and moved.__name__ == new  # the real spec, not the alias's


def test_from_imports_and_patches_through_the_old_path_reach_the_new_module():
    from lllm.core.runtime import Runtime, get_default_runtime
    from lllm.packages import runtime

    assert Runtime is runtime.Runtime and get_default_runtime is runtime.get_default_runtime
    with mock.patch("lllm.core.runtime.get_default_runtime", return_value="patched"):
        assert runtime.get_default_runtime() == "patched"


def test_an_old_path_works_first_thing_in_a_fresh_interpreter():
    code = (
        "from lllm.core.config import AgentSpec, resolve_config; import lllm.core.discovery as d; "
        "import lllm.packages.discovery as n; assert d is n; print(AgentSpec.__module__, resolve_config.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["lllm.core.spec", "lllm.packages.config"]


def test_an_unknown_core_module_still_fails_to_import():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("lllm.core.no_such_module")
