"""Session 7 review (c): a tactic result (or a task) holding NaN or an infinity was answered as a bare ``NaN`` /
``Infinity`` token, which is not JSON: a browser's ``JSON.parse``, Go or any strict client could not read the
answer. They are now sent as ``null``, as ``lllm sessions export`` writes them."""

from __future__ import annotations

import json

from serve_support import served
from support.pkgtree import write_tree

from lllm.serve.app import create_app

STATS = {
    "st/lllm.toml": '[package]\nname = "st"\n',
    "st/tactics/stats.py": '''
        from lllm import Tactic


        class Mean(Tactic):
            """The mean of the numbers (NaN when there are none)."""
            name = "mean"

            def call(self, task):
                values = list(task or [])
                return {"mean": sum(values) / len(values) if values else float("nan"), "max": max(values, default=float("-inf"))}
    ''',
}


def strict(text: str) -> object:
    def refuse(token: str) -> object:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_nan_and_infinities_are_answered_as_null(tmp_path, start):
    s = start(create_app(served(write_tree(tmp_path / "pkgs", STATS) / "st")))
    status, _, text = s.request("POST", "/tactics/mean/invoke", [])
    assert status == 200 and strict(text)["result"] == {"mean": None, "max": None}
    status, _, text = s.request("POST", "/tactics/mean/invoke", raw=b"[1e400]")
    assert status == 200 and strict(text)["result"] == {"mean": None, "max": None}
    status, _, text = s.request("POST", "/tactics/mean/stream", raw=b"[1e400, 1]")
    events = [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]
    assert [strict(e) for e in events][0] == {"tactic": "mean", "task": [None, 1]}
    assert [strict(e) for e in events][-1]["result"] == {"mean": None, "max": None}
