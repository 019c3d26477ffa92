"""docs/reference.md is generated from the code and must not drift from it."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_reference_is_up_to_date():
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    current = (ROOT / "docs" / "reference.md").read_text()
    if f"Python {gen.PY}." not in current:
        pytest.skip(f"docs/reference.md was generated with another Python than {gen.PY}")
    assert gen.render() == current, "docs/reference.md is stale: run `python docs/gen_reference.py`"
