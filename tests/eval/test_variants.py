"""Session 7 review: a variant's value is a YAML scalar; a sentence holding ': ' or ' #' stays the sentence."""

from __future__ import annotations

import pytest

from lllm.eval.variants import parse_variant

KEY = "agent_configs.writer.system_prompt"


@pytest.mark.parametrize(
    "text",
    [
        "You are an editor. Style: terse.",
        "Use #tags and # headings",
        "- start each line with a dash",
        "Answer in C# or F#, not Java",
        "Note: use: colons",
    ],
)
def test_a_prompt_text_is_kept_whole(text):
    assert parse_variant(f"b:{KEY}={text}").overrides == {KEY: text}


@pytest.mark.parametrize(
    "raw, value",
    [("0.2", 0.2), ("true", True), ("'quoted: text'", "quoted: text"), ("[a, b]", ["a", "b"]), ("{k: 1}", {"k": 1})],
)
def test_yaml_values_keep_their_type(raw, value):
    assert parse_variant(f"b:global.x={raw}").overrides == {"global.x": value}
