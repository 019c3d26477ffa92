"""The line counts docs/getting-started.md states are the real ones, and the short path stays within
Pydantic AI's 31 lines for the same flow (the examples themselves run in tests/docs/test_examples.py)."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
FENCE = re.compile(r"^( *)```python[^\n]*\n(.*?)^\1```", re.M | re.S)


def program(after: str, marker: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    return next(body for _, body in FENCE.findall(text[text.index(after) :]) if marker in body)


def lines(code: str) -> int:
    return sum(1 for line in code.splitlines() if line.strip())


def test_stated_counts_are_measured():
    text = PAGE.read_text(encoding="utf-8")
    short = lines(program("## Three agents, one tool, a typed result", "@tactic"))
    layered = lines(program('=== "Four layers"', "class BriefFlow"))
    assert f"the short-path program above is {short} lines" in text
    assert f"four-layer version is {layered} lines" in text
    assert short <= 31 < layered
