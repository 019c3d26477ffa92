"""Session 7 review (c): a registered key holding ``"`` or ``\\`` is JSON-escaped in the body `lllm serve`
sends, and the scrubbing, done on the dumped text, missed it: the key reached the client (HTTP and MCP)."""

from __future__ import annotations

import json

import pytest
from serve_support import served
from support.pkgtree import write_tree

from lllm.serve.app import create_app

QUOTED = 'sk-quo"ted\\key-0123456789abcdef'  # a " and a \ inside: both escaped in JSON text

QUOTED_PACKAGE = {
    "qk/lllm.toml": '[package]\nname = "qk"\n',
    "qk/configs/quoted.yaml": "invoker_config:\n  api_key: 'sk-quo\"ted\\key-0123456789abcdef'\n",
    "qk/tactics/quoted.py": '''
        from lllm import Tactic


        class Quoted(Tactic):
            """Echoes or fails with its configured key."""
            name = "quoted"

            def call(self, task):
                key = self.config["invoker_config"]["api_key"]
                if task == "raise":
                    raise RuntimeError(f"auth failed with key {key}")
                return {"key": key, "said": f"the key is {key}"}
    ''',
}


def test_a_key_with_a_quote_or_backslash_is_scrubbed_from_every_answer(tmp_path, start):
    package = write_tree(tmp_path / "pkgs", QUOTED_PACKAGE) / "qk"
    tactics = served(package)
    assert tactics[0].tactic.config["invoker_config"]["api_key"] == QUOTED
    s = start(create_app(tactics))
    escaped = json.dumps(QUOTED)[1:-1]
    seen = [
        s.request("POST", "/tactics/quoted/invoke", "echo"),
        s.request("POST", "/tactics/quoted/invoke", "raise"),
        s.request("POST", "/tactics/quoted/stream", "echo"),
        s.request("POST", "/tactics/quoted/stream", "raise"),
    ]
    for status, _, text in seen:
        assert escaped not in text and QUOTED not in text, (status, text)
        assert "[REDACTED]" in text
    assert json.loads(seen[0][2])["result"] == {"key": "[REDACTED]", "said": "the key is [REDACTED]"}
    assert seen[1][0] == 500 and "auth failed with key [REDACTED]" in json.loads(seen[1][2])["error"]


def test_a_key_with_a_quote_or_backslash_is_scrubbed_from_an_mcp_tool_result(tmp_path, start):
    pytest.importorskip("mcp", reason="the MCP tests need the 'mcp' package")
    s = start(create_app(served(write_tree(tmp_path / "pkgs", QUOTED_PACKAGE) / "qk")))
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "quoted", "arguments": {"task": "echo"}},
    }
    status, _, text = s.request("POST", "/mcp", call, headers={"Accept": "application/json, text/event-stream"})
    assert status == 200, text
    inner = json.loads(text)["result"]["content"][0]["text"]
    assert QUOTED not in inner and json.dumps(QUOTED)[1:-1] not in inner, inner
    assert json.loads(inner) == {"key": "[REDACTED]", "said": "the key is [REDACTED]"}
