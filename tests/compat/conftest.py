"""Compatibility tests run in temporary folders with their own LLLM_HOME, never the machine's."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # makes `support` importable
from support.pkgtree import fresh_default_runtime, isolated  # noqa: E402,F401 - autouse fixtures


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    """lllm-core's own test of an aliased install reads the manifest back with ``tomllib`` (Python 3.11+)."""
    import pytest

    if sys.version_info >= (3, 11):
        return
    skip = pytest.mark.skip(reason="this vendored lllm-core test imports tomllib, which Python 3.10 lacks")
    for item in items:
        if item.nodeid.endswith(
            "test_pkg_management.py::TestInstallPackage::test_install_with_alias_patches_toml_name"
        ):
            item.add_marker(skip)
