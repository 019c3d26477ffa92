"""One JSON-safe converter (pydantic's ``to_jsonable_python``) behind the log store, dialogs and the CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import warnings

import pytest
from pydantic import BaseModel

from lllm.core.dialog import Dialog
from lllm.core.jsonable import to_json_safe
from lllm.core.prompt import Prompt
from lllm.core.sessions import TacticCallSession
from lllm.logging import sqlite_store
from lllm.logging.cli import batch_record


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Box(BaseModel):
    label: str
    at: dt.date


class Opaque:
    def __str__(self) -> str:
        return "opaque!"


VALUE = {
    "point": Point(1, 2),
    "box": Box(label="b", at=dt.date(2026, 1, 2)),
    "when": dt.datetime(2026, 1, 2, 3, 4),
    "pair": (1, 2),
    "raw": b"ab",
    "other": Opaque(),
}
EXPECTED = {
    "point": {"x": 1, "y": 2},
    "box": {"label": "b", "at": "2026-01-02"},
    "when": "2026-01-02T03:04:00",
    "pair": [1, 2],
    "raw": "ab",
    "other": "opaque!",
}


def test_every_path_converts_the_same_way(tmp_path):
    assert to_json_safe(VALUE) == EXPECTED  # what `lllm run` prints, too (it calls it directly)
    assert batch_record(0, VALUE) == {"index": 0, "result": EXPECTED}
    m = Dialog(owner="a").put_prompt(Prompt(path="json_safe/p", prompt="{q}"), {"q": "hi", **VALUE})
    assert m.metadata["prompt_args"] == {"q": "hi", **EXPECTED}
    store = sqlite_store(str(tmp_path / "s.db"))
    session = TacticCallSession(tactic_name="t", session_name="s", state="success", delivery="ok")
    with pytest.warns(UserWarning, match=r"log store: metadata values of type \['Opaque'\]"):
        sid = store.save_session(session, metadata=VALUE)
    assert store.load_session_record(sid).metadata == EXPECTED
    json.dumps(EXPECTED)


def test_a_str_fallback_is_announced_only_when_asked():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert to_json_safe({"o": Opaque()}) == {"o": "opaque!"}
    with pytest.warns(UserWarning, match=r"tool result values of type \['Opaque'\]"):
        to_json_safe([Opaque(), Opaque()], what="tool result")
