"""DefaultTagParser (§2.3): optional listed tags, required tags, fences, signals, one ParseError for all problems."""

from __future__ import annotations

import pytest

from lllm.core.parsers import BaseParser, DefaultTagParser, fenced_blocks
from lllm.errors import ParseError


def test_result_keys_always_present():
    out = DefaultTagParser().parse("hello")
    assert out == {"raw": "hello", "xml_tags": {}, "md_tags": {}, "signal_tags": {}}


def test_listed_tags_are_optional():
    out = DefaultTagParser(xml_tags=["a"], md_tags=["python"], signal_tags=["DONE"]).parse("nothing here")
    assert out["xml_tags"] == {"a": []} and out["md_tags"] == {"python": []}
    assert out["signal_tags"] == {"DONE": False}


def test_xml_blocks_in_order_stripped_multiline_non_greedy():
    text = "<a> one </a> mid <a>\ntwo\nlines\n</a><b>x</b>"
    out = DefaultTagParser(xml_tags=["a", "b"]).parse(text)
    assert out["xml_tags"] == {"a": ["one", "two\nlines"], "b": ["x"]}


def test_nested_xml_tags():
    text = "<outer>before <inner>deep</inner> after</outer>"
    out = DefaultTagParser(xml_tags=["outer", "inner"]).parse(text)
    assert out["xml_tags"]["outer"] == ["before <inner>deep</inner> after"]
    assert out["xml_tags"]["inner"] == ["deep"]


def test_xml_tag_is_literal_not_regex():
    out = DefaultTagParser(xml_tags=["a.b", "c+"]).parse("<a.b>1</a.b><axb>2</axb><c+>3</c+>")
    assert out["xml_tags"] == {"a.b": ["1"], "c+": ["3"]}


def test_md_fences_info_prefix_and_top_level_only():
    text = (
        "intro\n"
        "```python\nprint(1)\n```\n"
        "````markdown\nouter\n```python\nnot top level\n```\n````\n"
        "```python3 extra\nprint(3)\n```\n"
        "~~~json\n{}\n~~~\n"
    )
    out = DefaultTagParser(md_tags=["python", "markdown", "json"]).parse(text)
    assert out["md_tags"]["python"] == ["print(1)", "print(3)"]
    assert out["md_tags"]["markdown"] == ["outer\n```python\nnot top level\n```"]
    assert out["md_tags"]["json"] == ["{}"]


def test_unclosed_fence_runs_to_end_and_inline_backticks_are_not_fences():
    assert fenced_blocks("```sql\nselect 1") == [("sql", "select 1")]
    assert fenced_blocks("```inline``` text") == []
    assert fenced_blocks("```\nplain\n```") == [("", "plain")]


def test_signal_tags():
    out = DefaultTagParser(signal_tags=["DONE", "RETRY"]).parse("all good <DONE> bye")
    assert out["signal_tags"] == {"DONE": True, "RETRY": False}


def test_required_tags_extracted_even_if_unlisted():
    out = DefaultTagParser(required_xml_tags=["answer"], required_md_tags=["python"]).parse(
        "<answer>42</answer>\n```python\nx = 1\n```"
    )
    assert out["xml_tags"] == {"answer": ["42"]} and out["md_tags"] == {"python": ["x = 1"]}


def test_one_parse_error_lists_every_problem():
    parser = DefaultTagParser(xml_tags=["note"], required_xml_tags=["answer", "reason"], required_md_tags=["python"])
    with pytest.raises(ParseError) as e:
        parser.parse("<reason>because</reason>")
    assert str(e.value) == (
        "Missing required XML tag <answer>: write it as <answer>...</answer>\n"
        "Missing required markdown block 'python': write it as a fenced block ```python ... ```"
    )
    assert e.value.detail == "<reason>because</reason>"


def test_empty_required_block_counts_as_present():
    out = DefaultTagParser(required_xml_tags=["answer"]).parse("<answer></answer>")
    assert out["xml_tags"]["answer"] == [""]


def test_runtime_args_override_tag_lists():
    parser = DefaultTagParser(xml_tags=["a"], parser_args={"signal_tags": ["S"]})
    assert parser.parse("<S>")["signal_tags"] == {"S": True}
    with pytest.raises(ParseError, match="<b>"):
        parser.parse("<a>x</a>", required_xml_tags=["b"])
    assert parser.parse("<a>x</a>", unrelated=1)["xml_tags"] == {"a": ["x"]}
    assert parser.required_xml_tags == []  # overrides never stick


def test_tag_lists_are_attributes_and_callable_parser():
    parser = DefaultTagParser(
        xml_tags=["a"], md_tags=["m"], signal_tags=["s"], required_xml_tags=["r", "a"], required_md_tags=["q"]
    )
    assert parser.xml_tags == ["a"] and parser.required_xml_tags == ["r", "a"]
    assert parser.all_xml_tags == ["a", "r"] and parser.all_md_tags == ["m", "q"]
    assert parser("<a>1</a><r>2</r>\n```q\n3\n```")["xml_tags"] == {"a": ["1"], "r": ["2"]}
    assert "xml_tags=['a']" in repr(parser)


def test_base_parser_is_abstract():
    with pytest.raises(TypeError):
        BaseParser()

    class Upper(BaseParser):
        def parse(self, content, **runtime_args):
            return {"upper": content.upper()}

    assert Upper()("x") == {"upper": "X"}
