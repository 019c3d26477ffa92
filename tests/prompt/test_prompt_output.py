"""Prompt.parse / parse_output (§2.3, §2.4): parsers, structured ``format`` validation, fenced JSON, errors."""

from __future__ import annotations

from typing import List, Optional

import pytest
from pydantic import BaseModel

from lllm.core.const import Roles
from lllm.core.message import Message
from lllm.core.parsers import DefaultTagParser
from lllm.core.prompt import Prompt
from lllm.errors import ParseError


class Answer(BaseModel):
    answer: str
    confidence: float = 0.5
    tags: List[str] = []


SCHEMA = {
    "title": "Verdict",
    "type": "object",
    "properties": {"ok": {"type": "boolean"}, "score": {"type": "integer", "minimum": 0}, "note": {"type": "string"}},
    "required": ["ok", "score"],
    "additionalProperties": False,
}


def test_parse_without_parser():
    assert Prompt("p", "x").parse("hello") == {"raw": "hello"}
    assert Prompt("p", "x").parse_output("hello", anything=1) == {"raw": "hello"}


def test_parse_with_base_parser_and_runtime_args():
    p = Prompt("p", "x", parser=DefaultTagParser(xml_tags=["a"]))
    assert p.parse("<a>1</a>")["xml_tags"] == {"a": ["1"]}
    with pytest.raises(ParseError, match="<b>"):
        p.parse_output("<a>1</a>", required_xml_tags=["b"])


def test_callable_parser_gets_raw_added_and_runtime_args():
    seen = {}

    def parser(content, **kw):
        seen.update(kw)
        return {"words": content.split()}

    p = Prompt("p", "x", parser=parser)
    assert p.parse_output("a b", lang="en") == {"words": ["a", "b"], "raw": "a b"}
    assert seen == {"lang": "en"}
    assert Prompt("p", "x", parser=lambda c: {"raw": "kept"}).parse("c") == {"raw": "kept"}


def test_parser_must_return_a_dict():
    p = Prompt("p", "x", parser=lambda c: [c])
    with pytest.raises(TypeError, match="Parser of prompt 'p' returned list, expected a dict"):
        p.parse("c")


def test_callable_parser_parse_error_propagates():
    def strict(content):
        raise ParseError("need more")

    with pytest.raises(ParseError, match="need more"):
        Prompt("p", "x", parser=strict).parse_output("c")


def test_pydantic_format_success_and_parsed_as():
    p = Prompt("p", "x", format=Answer)
    content = '{"answer": "42", "confidence": "0.9"}'
    parsed = p.parse_output(content)
    assert parsed == {"answer": "42", "confidence": 0.9, "tags": []}  # model_dump exactly (SPEC §2.4)
    msg = Message(role=Roles.ASSISTANT, content=content, parsed=parsed)
    assert msg.parsed_as(Answer) == Answer(answer="42", confidence=0.9)


@pytest.mark.parametrize(
    "content",
    [
        '```json\n{"answer": "a"}\n```',
        '```\n{"answer": "a"}\n```',
        '  ```JSON\n{"answer": "a"}```  ',
        'Here you go:\n```json\n{"answer": "a"}\n```\nDone.',
    ],
)
def test_fenced_json_is_unwrapped(content):
    parsed = Prompt("p", "x", format=Answer).parse_output(content)
    assert parsed == Answer(answer="a").model_dump(mode="json")  # exactly model_dump, no "raw" key


def test_pydantic_format_failure_message():
    p = Prompt("p", "x", format=Answer)
    with pytest.raises(ParseError) as e:
        p.parse_output('{"confidence": "high"}')
    assert str(e.value) == (
        "The output does not match the required format 'Answer':\n"
        "- answer: Field required\n"
        "- confidence: Input should be a valid number, unable to parse string as a number\n"
        "Answer with only a JSON value that matches the 'Answer' schema."
    )
    assert e.value.detail == '{"confidence": "high"}'


def test_pydantic_format_invalid_json():
    with pytest.raises(ParseError, match=r"- \(root\): Invalid JSON"):
        Prompt("p", "x", format=Answer).parse_output("I think the answer is 42")


def test_strict_mode_nulls_for_optional_fields_use_defaults():
    p = Prompt("p", "x", format=Answer)
    parsed = p.parse_output('{"answer": "a", "confidence": null, "tags": null}')
    assert parsed["confidence"] == 0.5 and parsed["tags"] == []
    with pytest.raises(ParseError, match="- answer: Input should be a valid string"):
        p.parse_output('{"answer": null}')


def test_nested_optional_model_format():
    class Inner(BaseModel):
        v: int = 1

    class Outer(BaseModel):
        inner: Inner
        maybe: Optional[Inner] = None

    parsed = Prompt("p", "x", format=Outer).parse_output('{"inner": {"v": null}, "maybe": null}')
    assert parsed["inner"] == {"v": 1} and parsed["maybe"] is None


def test_dict_schema_format_success_and_failure():
    p = Prompt("p", "x", format=SCHEMA)
    assert p.parse_output('{"ok": true, "score": 3}') == {"ok": True, "score": 3}
    with pytest.raises(ParseError) as e:
        p.parse_output('{"ok": "yes", "score": -1, "extra": 1}')
    assert str(e.value) == (
        "The output does not match the required format 'Verdict':\n"
        "- (root): Additional properties are not allowed ('extra' was unexpected)\n"
        "- ok: 'yes' is not of type 'boolean'\n"
        "- score: -1 is less than the minimum of 0\n"
        "Answer with only a JSON value that matches the 'Verdict' schema."
    )
    with pytest.raises(ParseError, match=r"- invalid JSON: Expecting value"):
        p.parse_output("not json")
    # a strict-mode null for an optional property is dropped
    assert p.parse_output('{"ok": false, "score": 0, "note": null}')["ok"] is False


def test_dict_schema_non_object_value_and_default_name():
    p = Prompt("p", "x", format={"type": "array", "items": {"type": "integer"}})
    assert p.parse_output("[1, 2]") == {"value": [1, 2]}
    assert p.format_schema() == ("output", {"type": "array", "items": {"type": "integer"}})
    assert p.format_schema(strict=True) is None


def test_dict_schema_without_jsonschema_installed(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "jsonschema":
            raise ImportError("no jsonschema")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    p = Prompt("p", "x", format=SCHEMA)
    assert p.parse_output('{"ok": "not validated"}')["ok"] == "not validated"
    with pytest.raises(ParseError, match="invalid JSON"):
        p.parse_output("{")


def test_format_then_parser():
    p = Prompt("p", "x", format=Answer, parser=lambda c: {"length": len(c)})
    assert p.parse_output('{"answer": "a"}') == {"length": 15, "raw": '{"answer": "a"}'}
    with pytest.raises(ParseError):  # validation still runs first
        p.parse_output('{"nope": 1}')


def test_format_schema():
    assert Prompt("p", "x").format_schema() is None
    name, schema = Prompt("p", "x", format=Answer).format_schema()
    assert name == "Answer" and schema == Answer.model_json_schema()
    assert Prompt("p", "x", format={"title": "My Out!", "type": "object"}).format_schema()[0] == "My_Out_"
    strict_name, strict = Prompt("p", "x", format=Answer).format_schema(strict=True)
    assert strict_name == "Answer" and strict["required"] == ["answer", "confidence", "tags"]
    assert strict["additionalProperties"] is False


def test_format_cache_follows_reassignment():
    p = Prompt("p", "x", format=Answer)
    assert p.format_schema()[0] == "Answer"
    p.format = SCHEMA
    assert p.format_schema()[0] == "Verdict"
