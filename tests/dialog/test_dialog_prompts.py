import json
import warnings

import pytest

from lllm.core.const import Modalities, Roles
from lllm.core.dialog import PLAIN_PROMPT_PATH, Dialog, plain_prompt
from lllm.core.parsers import DefaultTagParser
from lllm.core.prompt import Prompt
from lllm.core.tools import tool
from lllm.packages.runtime import Runtime


@tool(description="Add two numbers")
def add(a: int, b: int) -> int:
    return a + b


def greeting():
    return Prompt(
        path="dialog_tests/greet",
        prompt="Hello {name}, you are {age}.",
        parser=DefaultTagParser(xml_tags=["answer"]),
        function_list=[add],
    )


class Custom:
    def __str__(self):
        return "custom!"


def test_put_prompt_renders_and_records():
    d = Dialog(owner="a")
    p = greeting()
    m = d.put_prompt(p, {"name": "Ada", "age": 36, "extra": {Custom(), 1}}, metadata={"k": "v"})
    assert m is d.tail and m.role == Roles.USER and m.name == "user" and m.modality == Modalities.TEXT
    assert m.content == "Hello Ada, you are 36."
    assert d.top_prompt is p
    assert m.metadata["k"] == "v" and m.metadata["dialog_id"] == d.dialog_id
    assert m.metadata["prompt_key"] == "dialog_tests/greet"
    assert m.metadata["prompt_hash"] == p.prompt_hash
    args = m.metadata["prompt_args"]  # JSON-safe (pydantic's converter): a set becomes a list, an object its str
    assert args["name"] == "Ada" and args["age"] == 36 and sorted(args["extra"], key=str) == [1, "custom!"]
    json.dumps(m.to_dict())


def test_put_prompt_missing_variable_raises_and_appends_nothing():
    d = Dialog()
    with pytest.raises(ValueError, match=r"Missing required template variables: \['age'\]"):
        d.put_prompt(greeting(), {"name": "x"})
    assert len(d) == 0 and d.top_prompt is None


def test_put_prompt_resolves_key_via_dialog_runtime():
    rt = Runtime("dialog-test")
    p = greeting()
    rt.register_prompt(p)
    d = Dialog(runtime=rt)
    m = d.put_prompt("dialog_tests/greet", {"name": "B", "age": 1}, name="boss", role=Roles.SYSTEM)
    assert d.top_prompt is p and m.role == Roles.SYSTEM and m.name == "boss"


def test_put_prompt_unknown_key_raises_resource_not_found():
    from lllm.errors import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError):
        Dialog(runtime=Runtime("empty")).put_prompt("no/such/prompt")


def test_put_prompt_uses_default_runtime_when_none(monkeypatch):
    import lllm.packages.runtime as rtmod

    rt = Runtime("default-for-test")
    rt.register_prompt(greeting())
    monkeypatch.setattr(rtmod, "get_default_runtime", lambda: rt)
    m = Dialog().put_prompt("dialog_tests/greet", {"name": "C", "age": 2})
    assert m.content == "Hello C, you are 2."


def test_put_text_sets_plain_prompt():
    d = Dialog()
    d.put_prompt(greeting(), {"name": "x", "age": 1})
    m = d.put_text("raw {not rendered}", name="bob", metadata={"a": 1})
    assert m.content == "raw {not rendered}" and m.name == "bob" and m.metadata["a"] == 1
    top = d.top_prompt
    assert top is plain_prompt() and top.path == PLAIN_PROMPT_PATH
    assert top.parser is None and top.format is None and dict(top.functions) == {}
    assert "prompt_key" not in m.metadata


def test_to_dict_records_prompt_snapshot():
    d = Dialog()
    p = greeting()
    d.put_prompt(p, {"name": "x", "age": 1})
    data = d.to_dict()
    assert data["top_prompt_path"] == "dialog_tests/greet"
    assert data["top_prompt_snapshot"] == {
        "path": "dialog_tests/greet",
        "template": p.prompt,
        "parser": "DefaultTagParser",
        "functions": ["add"],
        "hash": p.prompt_hash,
    }
    assert json.loads(json.dumps(data)) == data


def test_from_dict_finds_prompt_in_runtime_without_warning():
    rt = Runtime("dialog-test")
    p = greeting()
    rt.register_prompt(p)
    d = Dialog(runtime=rt, owner="o")
    d.put_prompt(p, {"name": "x", "age": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = Dialog.from_dict(d.to_dict(), runtime=rt)
    assert back.top_prompt is p and back.runtime is rt
    assert list(back.messages) == list(d.messages) and back.dialog_id == d.dialog_id


def test_from_dict_falls_back_to_snapshot_with_runtime_warning():
    d = Dialog()
    p = greeting()
    d.put_prompt(p, {"name": "x", "age": 1})
    with pytest.warns(RuntimeWarning) as rec:
        back = Dialog.from_dict(d.to_dict(), runtime=Runtime("empty"))
    assert str(rec[0].message) == (
        "Dialog.from_dict: prompt 'dialog_tests/greet' is not registered in the runtime; rebuilt a "
        "template-only prompt from the snapshot (parser DefaultTagParser and tools ['add'] are not restored)."
    )
    top = back.top_prompt
    assert isinstance(top, Prompt) and top is not p
    assert top.path == p.path and top.prompt == p.prompt and top.prompt_hash == p.prompt_hash
    assert top.parser is None and dict(top.functions) == {}
    assert list(back.messages) == list(d.messages)


def test_from_dict_without_snapshot_warns_and_leaves_no_prompt():
    d = Dialog()
    d.put_prompt(greeting(), {"name": "x", "age": 1})
    data = d.to_dict()
    data["top_prompt_snapshot"] = None
    with pytest.warns(RuntimeWarning, match="has no snapshot; top_prompt is None"):
        back = Dialog.from_dict(data, runtime=Runtime("empty"))
    assert back.top_prompt is None


def test_from_dict_plain_prompt_needs_no_lookup():
    d = Dialog()
    d.put_text("hi")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = Dialog.from_dict(d.to_dict(), runtime=Runtime("empty"))
    assert back.top_prompt is plain_prompt()


def test_fork_inherits_top_prompt_object():
    d = Dialog()
    p = greeting()
    d.put_prompt(p, {"name": "x", "age": 1})
    assert d.fork().top_prompt is p and d.fork(share_messages=True).top_prompt is p
