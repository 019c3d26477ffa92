"""``lllm replay --override PATH=VALUE`` (and the UI's fork): a prompt sentence stays the sentence; YAML values
(numbers, bools, quoted and flow values) keep their type."""

from __future__ import annotations

import pytest

from lllm.logging.cli import parse_override

KEY = "agent_configs.writer.system_prompt"
CONFIG = {"agent_configs": [{"name": "writer", "system_prompt": "You write."}], "global": {"temperature": 0.7}}


@pytest.mark.parametrize(
    "text",
    [
        "You are an editor. Style: terse.",
        "Answer: briefly",
        "Use #tags and # headings",
        "- start each line with a dash",
        "Answer in C# or F#, not Java",
    ],
)
def test_a_prompt_sentence_is_kept_whole(text):
    assert parse_override(f"{KEY}={text}", CONFIG) == {KEY: text}


@pytest.mark.parametrize(
    "raw, value",
    [("0.2", 0.2), ("true", True), ("'quoted: text'", "quoted: text"), ("[a, b]", ["a", "b"]), ("{k: 1}", {"k": 1})],
)
def test_yaml_values_keep_their_type(raw, value):
    assert parse_override(f"global.temperature={raw}", CONFIG) == {"global.temperature": value}
