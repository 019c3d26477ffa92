"""Tools on a Prompt (§2.1, §2.5): functions, refs, get/link/with_functions, the resolution seam; handlers (§2.8)."""

from __future__ import annotations

import pytest

from lllm.core.message import FunctionCall
from lllm.core.parsers import DefaultTagParser
from lllm.core.prompt import MCP, BaseHandler, DefaultSimpleHandler, Function, Prompt, tool
from lllm.errors import ToolBindingError


@tool
def lookup(q: str) -> str:
    """Look something up."""
    return f"found {q}"


def header() -> Function:
    return Function("search", "Search the web.", {"q": {"type": "string"}}, required=["q"])


def run(fn: Function, **args) -> FunctionCall:
    return fn(FunctionCall(id="1", name=fn.name, arguments=args))


def test_functions_and_refs():
    p = Prompt("p", "x", function_list=[lookup, "pkg.tools:search", header()])
    assert list(p.functions) == ["lookup", "search"] and p.functions["lookup"] is lookup
    assert p.function_refs == ["pkg.tools:search"]
    assert [f if isinstance(f, str) else f.name for f in p.function_list] == ["lookup", "search", "pkg.tools:search"]
    with pytest.raises(TypeError):
        p.functions["x"] = lookup  # read-only view


def test_get_function_unknown_lists_declared():
    p = Prompt("p", "x", function_list=[lookup, header()])
    assert p.get_function("lookup") is lookup
    with pytest.raises(KeyError) as e:
        p.get_function("nope")
    assert e.value.args[0] == "Prompt 'p' has no tool 'nope'. Declared tools: ['lookup', 'search']"


def test_link_function_binds_on_this_prompt_only():
    decl = header()
    p = Prompt("p", "x", function_list=[decl])
    other = Prompt("o", "x", function_list=[decl])
    p.link_function("search", lambda q: q * 2)
    assert p.functions["search"].linked and run(p.functions["search"], q="ab").result == "abab"
    assert not decl.linked and not other.functions["search"].linked  # the shared declaration is untouched
    with pytest.raises(KeyError, match=r"Declared tools: \['search'\]"):
        p.link_function("missing", print)
    with pytest.raises(TypeError, match="Tool 'search': bind expects a callable or Function, got str"):
        Prompt("q", "x", function_list=[header()]).link_function("search", "not callable")


def test_with_functions_returns_bound_copy():
    p = Prompt("p", "Hi {x}", metadata={"a": 1}, function_list=[header(), lookup, "pkg.tools:t"])
    bound = p.with_functions(search=lambda q: f"web {q}")
    assert bound is not p and not p.functions["search"].linked
    assert run(bound.functions["search"], q="z").result == "web z"
    assert bound.functions["lookup"] is lookup and bound.function_refs == ["pkg.tools:t"]
    assert (bound.path, bound.prompt, bound.prompt_hash) == (p.path, p.prompt, p.prompt_hash)
    bound.metadata["b"] = 2
    assert p.metadata == {"a": 1}
    with pytest.raises(KeyError) as e:
        p.with_functions(nope=print)
    assert e.value.args[0] == "Prompt 'p' has no tool(s) ['nope']. Declared tools: ['search', 'lookup']"
    with pytest.raises(ToolBindingError, match=r"does not accept required parameter\(s\) \['q'\]"):
        p.with_functions(search=lambda query: query)


def test_resolve_functions_seam():
    # Package-tool resolution itself is tested in tests/packages/test_package_tools.py.
    from lllm import Runtime

    p = Prompt("p", "x", function_list=[lookup])
    assert p.resolve_functions() == {"lookup": lookup}
    with pytest.raises(ToolBindingError) as e:
        Prompt("p", "x", function_list=[lookup, "pkg.tools:search"]).resolve_functions(Runtime("empty"))
    assert str(e.value) == "Prompt 'p': no tool 'pkg.tools:search' in runtime 'empty'. Tools: []"


def test_mcp_servers_by_label():
    p = Prompt("p", "x", mcp_servers_list=[MCP("docs", "u1"), MCP("code", "u2")])
    assert list(p.mcp_servers) == ["docs", "code"] and p.mcp_servers["docs"].server_url == "u1"
    assert [m.server_label for m in p.mcp_servers_list] == ["docs", "code"]


# -- handlers -------------------------------------------------------------------------------


def make_task() -> Prompt:
    return Prompt(
        "task/solve",
        "Solve {problem}",
        parser=DefaultTagParser(required_xml_tags=["answer"]),
        format=None,
        function_list=[lookup, "pkg.tools:s"],
        mcp_servers_list=[MCP("docs", "u")],
        addon_args={"web_search": True},
    )


def test_default_messages():
    h = DefaultSimpleHandler()
    assert h.exception_msg == "Error: {error_message}. Please fix."
    assert h.interrupt_msg == "{call_results}"
    assert h.interrupt_final_msg == "You are reaching the limit of tool calls. Provide the final response."


def test_on_exception_and_interrupt_keep_tools_and_parser():
    task = make_task()
    exc = task.handler.on_exception(task, None)
    assert exc.path == "__task/solve_exception" and exc.prompt == "Error: {error_message}. Please fix."
    assert exc(error_message="bad tag") == "Error: bad tag. Please fix."
    assert exc.parser is task.parser and exc.renderer is task.renderer and exc.handler is task.handler
    assert list(exc.functions) == ["lookup"] and exc.function_refs == ["pkg.tools:s"]
    assert list(exc.mcp_servers) == ["docs"] and exc.addon_args == {"web_search": True}
    inter = task.on_interrupt()
    assert inter.path == "__task/solve_interrupt" and inter(call_results="R {x}") == "R {x}"
    assert list(inter.functions) == ["lookup"]


def test_on_interrupt_final_clears_tools_servers_addons():
    task = make_task()
    final = task.on_interrupt_final(session=object())
    assert final.path == "__task/solve_interrupt_final"
    assert final() == "You are reaching the limit of tool calls. Provide the final response."
    assert dict(final.functions) == {} and final.function_refs == [] and dict(final.mcp_servers) == {}
    assert final.addon_args == {} and final.parser is task.parser


def test_format_is_inherited():
    from pydantic import BaseModel

    class Out(BaseModel):
        a: int

    task = Prompt("t", "x", format=Out)
    assert task.on_exception().format is Out and task.on_interrupt_final().format is Out


def test_handler_prompts_are_cached_per_prompt_and_kind():
    task = make_task()
    assert task.on_exception() is task.on_exception()
    assert task.on_interrupt() is task.on_interrupt()
    assert task.on_interrupt_final() is task.on_interrupt_final()
    assert task.on_exception() is not task.on_interrupt()
    other = make_task()
    assert other.on_exception() is not task.on_exception()


def test_cache_is_dropped_when_tools_change():
    task = Prompt("t", "x", function_list=[header()])
    before = task.on_interrupt()
    task.link_function("search", lambda q: q)
    after = task.on_interrupt()
    assert after is not before and after.functions["search"].linked
    bound = Prompt("t", "x", function_list=[header()]).with_functions(search=lambda q: q)
    assert bound.on_interrupt().functions["search"].linked


def test_handler_message_may_be_a_prompt():
    ready = Prompt("custom/exception", "Fix it: {error_message}")
    task = Prompt(
        "t", "x", handler=DefaultSimpleHandler(exception_msg=ready, interrupt_msg="Tool said: {call_results}")
    )
    assert task.on_exception() is ready
    assert task.on_interrupt()(call_results="ok") == "Tool said: ok"


def test_custom_handler():
    class Counting(BaseHandler):
        def on_exception(self, prompt, session=None):
            return prompt.extend(path="e", prompt="E{error_message}")

        def on_interrupt(self, prompt, session=None):
            return prompt.extend(path="i", prompt="{call_results}")

        def on_interrupt_final(self, prompt, session=None):
            return prompt.extend(path="f", prompt="final", function_list=[])

    task = Prompt("t", "x", handler=Counting(), function_list=[lookup])
    assert task.on_exception()(error_message="!") == "E!"
    assert task.on_interrupt_final().function_list == []
    with pytest.raises(TypeError):
        BaseHandler()
