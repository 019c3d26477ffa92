"""Session 7 review: a tactic whose typed input is a recursive model is an MCP tool taking that model."""

from __future__ import annotations

import json

import pytest
from serve_support import served
from support.pkgtree import write_tree

from lllm.serve.app import create_app

pytest.importorskip("mcp", reason="the MCP route needs the 'mcp' package")

TREE = {
    "forest/lllm.toml": '[package]\nname = "forest"\n',
    "forest/tactics/count.py": """
        from typing import List

        from pydantic import BaseModel

        from lllm import Tactic


        class Node(BaseModel):
            title: str
            children: List["Node"] = []


        class Count(Tactic):
            name = "count"

            def call(self, task: Node) -> int:
                return 1 + sum(self.call(c) for c in task.children)
    """,
}


def test_a_recursive_input_model_is_the_tools_input_schema(tmp_path, start):
    write_tree(tmp_path / "pkgs", TREE)
    s = start(create_app(served(tmp_path / "pkgs/forest")))
    rpc = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    (tool,) = s.json("POST", "/mcp", rpc, headers={"Accept": "application/json, text/event-stream"})[1]["result"][
        "tools"
    ]
    assert tool["inputSchema"]["type"] == "object" and set(tool["inputSchema"]["properties"]) == {"title", "children"}
    tree = {"title": "root", "children": [{"title": "a", "children": [{"title": "b"}]}]}
    rpc = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "count", "arguments": tree}}
    answer = s.json("POST", "/mcp", rpc, headers={"Accept": "application/json, text/event-stream"})[1]["result"]
    assert not answer.get("isError"), answer
    assert json.loads(answer["content"][0]["text"]) == 3
