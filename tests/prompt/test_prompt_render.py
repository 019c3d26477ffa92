"""Prompt construction errors (§2.1), rendering (§2.2), hash, info_dict and extend (§2.9)."""

from __future__ import annotations

import hashlib
from typing import Any, Optional, Set

import pytest

import lllm.core.prompt as prompt_module
from lllm.core.parsers import DefaultTagParser
from lllm.core.prompt import (
    MCP,
    BaseRenderer,
    DefaultHandler,
    DefaultSimpleHandler,
    Function,
    Prompt,
    StringFormatterRenderer,
    tool,
)


@tool
def lookup(q: str) -> str:
    return q


def test_reexports_for_0_1_compatibility():
    for name in (
        "Function",
        "tool",
        "MCP",
        "BaseParser",
        "DefaultTagParser",
        "Prompt",
        "BaseRenderer",
        "StringFormatterRenderer",
        "BaseHandler",
        "DefaultSimpleHandler",
        "DefaultHandler",
    ):
        assert hasattr(prompt_module, name), name
    assert DefaultHandler is DefaultSimpleHandler


def test_defaults():
    p = Prompt("a/b", "Hi")
    assert p.metadata == {} and p.parser is None and p.format is None and p.addon_args == {}
    assert p.function_list == [] and p.mcp_servers_list == [] and dict(p.functions) == {}
    assert isinstance(p.handler, DefaultSimpleHandler) and isinstance(p.renderer, StringFormatterRenderer)


@pytest.mark.parametrize("path", ["", None])
def test_empty_path(path):
    with pytest.raises(ValueError, match=r"Prompt path must be a non-empty string \(prompt 'Hello'\)"):
        Prompt(path, "Hello")


def test_colon_in_path():
    with pytest.raises(ValueError) as e:
        Prompt("pkg:key", "x")
    assert str(e.value) == "Prompt path 'pkg:key' must not contain ':' (it separates package and key in URLs)"


@pytest.mark.parametrize(
    "template,field",
    [("a {} b", "{}"), ("{0}", "{0}"), ('{"a":1}', '{"a"}'), ("{ name }", "{ name }"), ("{1.x}", "{1.x}")],
)
def test_bad_template_fields(template, field):
    with pytest.raises(ValueError) as e:
        Prompt("p", template)
    assert str(e.value) == (
        f"Prompt 'p': template field {field} is not a named variable; "
        f"double literal braces ({{{{ and }}}}) to write them as text"
    )


def test_unbalanced_braces():
    with pytest.raises(ValueError, match=r"Prompt 'p': Single '}' encountered in format string; double literal"):
        Prompt("p", "oops }")
    with pytest.raises(ValueError, match=r"Prompt 'p': .*double literal braces"):
        Prompt("p", "oops {")


def test_wrong_types():
    with pytest.raises(TypeError, match="Prompt 'p': the template must be a str"):
        Prompt("p", 3)
    with pytest.raises(TypeError, match="Prompt 'p': format must be a pydantic model class or a JSON-Schema dict"):
        Prompt("p", "x", format=int)
    with pytest.raises(TypeError, match="Prompt 'p': parser must be a BaseParser instance or a callable"):
        Prompt("p", "x", parser=DefaultTagParser)  # the class, not an instance
    with pytest.raises(TypeError, match="function_list entries must be Function objects"):
        Prompt("p", "x", function_list=[lambda q: q])
    with pytest.raises(TypeError, match="mcp_servers_list entries must be MCP objects"):
        Prompt("p", "x", mcp_servers_list=["docs"])


def test_duplicate_tools_and_servers():
    with pytest.raises(ValueError) as e:
        Prompt("p", "x", function_list=[lookup, Function("lookup", "d", {})])
    assert str(e.value) == "Prompt 'p' declares tool 'lookup' more than once"
    with pytest.raises(ValueError, match="Prompt 'p' declares tool 'pkg.tools:a' more than once"):
        Prompt("p", "x", function_list=["pkg.tools:a", "pkg.tools:a"])
    with pytest.raises(ValueError, match="Prompt 'p' declares MCP server 'docs' more than once"):
        Prompt("p", "x", mcp_servers_list=[MCP("docs", "u"), MCP("docs", "v")])


def test_template_vars_and_validate_args():
    p = Prompt("p", "{user.name} asks {question} about {items[0]} with {value:{width}} {{literal}}")
    assert p.template_vars == {"user", "question", "items", "value", "width"}
    assert p.validate_args({"user": 1, "question": 2}) == ["items", "value", "width"]
    assert p.validate_args(None) == ["items", "question", "user", "value", "width"]


def test_render_missing_and_extra():
    p = Prompt("greet/hi", "Hello {name}, {{braces}}")
    assert p(name="Ann", unused=1) == "Hello Ann, {braces}"
    with pytest.raises(ValueError) as e:
        p()
    assert str(e.value) == "Missing required template variables: ['name'] for prompt greet/hi"


def test_render_without_variables_still_unescapes_braces():
    assert Prompt("p", 'JSON: {{"a": 1}}')() == 'JSON: {"a": 1}'
    assert Prompt("p", "plain")() == "plain"


def test_render_argument_named_template_or_self():
    assert Prompt("p", "{template} {self}")(template="T", self="S") == "T S"


def test_render_failure_names_the_prompt():
    with pytest.raises(ValueError, match=r"Failed to render prompt p: AttributeError: "):
        Prompt("p", "{a.missing}")(a=object())


def test_custom_renderer_without_variable_info():
    class Upper(BaseRenderer):
        def render(self, template: str, /, **kwargs: Any) -> str:
            return template.upper()

    p = Prompt("p", "{{ not checked }} {}", renderer=Upper())
    assert p.template_vars == set() and p.validate_args({}) == []
    assert p() == "{{ NOT CHECKED }} {}"


def test_custom_renderer_with_variables():
    class Dollar(BaseRenderer):
        def render(self, template: str, /, **kwargs: Any) -> str:
            for k, v in kwargs.items():
                template = template.replace(f"${k}", str(v))
            return template

        def variables(self, template: str) -> Optional[Set[str]]:
            return {w[1:] for w in template.split() if w.startswith("$")}

    p = Prompt("p", "hi $name {raw}", renderer=Dollar())
    assert p(name="x") == "hi x {raw}"
    with pytest.raises(ValueError, match=r"Missing required template variables: \['name'\] for prompt p"):
        p()


def test_prompt_hash_and_info_dict():
    p = Prompt(
        "a/b",
        "T {x}",
        metadata={"v": 1},
        parser=DefaultTagParser(),
        function_list=[lookup, "pkg.tools:s"],
        mcp_servers_list=[MCP("docs", "u")],
        addon_args={"web_search": True},
    )
    assert p.prompt_hash == hashlib.sha256(b"T {x}").hexdigest()[:12]
    assert p.info_dict() == {
        "path": "a/b",
        "prompt_hash": p.prompt_hash,
        "metadata": {"v": 1},
        "functions": ["lookup", "pkg.tools:s"],
        "mcp_servers": ["docs"],
        "addon_args": {"web_search": True},
        "has_parser": True,
        "has_format": False,
    }


def test_template_reassignment_is_revalidated():
    p = Prompt("p", "{a}")
    p.prompt = "{b}"
    assert p.template_vars == {"b"} and p.prompt_hash == hashlib.sha256(b"{b}").hexdigest()[:12]


def test_extend_requires_path_and_known_fields():
    p = Prompt("base", "x")
    with pytest.raises(ValueError) as e:
        p.extend(prompt="y")
    assert str(e.value) == "extend() requires a new 'path'"
    with pytest.raises(TypeError) as e:
        p.extend(path="c", tools=[])
    assert str(e.value).startswith("extend() got unknown field(s) ['tools'] for prompt 'base'; valid fields: ['path',")


def test_extend_inherits_without_serialising():
    class Out:  # not serialisable: proves values are copied as objects
        pass

    parser = DefaultTagParser(xml_tags=["a"])
    renderer = StringFormatterRenderer()
    handler = DefaultSimpleHandler(exception_msg="E {error_message}")
    marker = Out()
    p = Prompt(
        "base",
        "Hi {x}",
        metadata={"m": marker},
        parser=parser,
        function_list=[lookup, "pkg.tools:s"],
        mcp_servers_list=[MCP("docs", "u")],
        addon_args={"k": 1},
        handler=handler,
        renderer=renderer,
    )
    child = p.extend(path="child", prompt="Bye {y}")
    assert (child.path, child.prompt, child.template_vars) == ("child", "Bye {y}", {"y"})
    assert child.parser is parser and child.renderer is renderer and child.handler is handler
    assert child.metadata["m"] is marker and child.metadata is not p.metadata
    assert child.functions["lookup"] is lookup and child.function_refs == ["pkg.tools:s"]
    assert list(child.mcp_servers) == ["docs"] and child.addon_args == {"k": 1}
    assert p.path == "base" and p.prompt == "Hi {x}"
    assert child.extend(path="gc", function_list=[]).function_list == []


def test_extend_keeps_subclass():
    class MyPrompt(Prompt):
        pass

    assert type(MyPrompt("a", "b").extend(path="c")) is MyPrompt


def test_addon_accessors():
    assert Prompt("p", "x").allow_web_search is False
    assert Prompt("p", "x").computer_use_config == {}
    p = Prompt("p", "x", addon_args={"web_search": True, "computer_use": {"display_width": 1024}})
    assert p.allow_web_search is True and p.computer_use_config == {"display_width": 1024}
    q = Prompt("p", "x", addon_args={"allow_web_search": True, "computer_use_config": {"env": "browser"}})
    assert q.allow_web_search is True and q.computer_use_config == {"env": "browser"}
