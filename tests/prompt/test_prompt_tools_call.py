"""Executing tools: argument validation, nulls as defaults, sync/async implementations, errors, processors."""

from __future__ import annotations

import asyncio
import threading
from typing import List, Optional

import pytest
from pydantic import BaseModel

from lllm.core.message import FunctionCall
from lllm.core.tools import Function, default_processor, tool
from lllm.errors import ToolBindingError


def call(name: str, **arguments) -> FunctionCall:
    return FunctionCall(id="c1", name=name, arguments=arguments)


class Point(BaseModel):
    x: int
    y: int = 0


@tool
def add(a: int, b: int = 10) -> int:
    return a + b


def test_success_result_and_default_processor_text():
    c = call("add", a=1, b=2)
    out = add(c)
    assert out is not c and c.result_str is None  # a new FunctionCall; the input is untouched
    assert out.result == 3 and out.error_message is None and out.success
    assert out.result_str == "Return of calling function add with arguments {'a': 1, 'b': 2}:\n---\n3\n---\n"
    assert out.duration_s is not None and out.duration_s >= 0
    assert (out.id, out.name, out.arguments) == ("c1", "add", {"a": 1, "b": 2})


def test_default_processor_function():
    assert (
        default_processor("R", call("t", q=1)) == "Return of calling function t with arguments {'q': 1}:\n---\nR\n---\n"
    )


def test_coercion_and_missing_default():
    assert add(call("add", a="5")).result == 15


def test_null_means_default_at_top_level_and_nested():
    @tool
    def f(p: Point, scale: int = 2, label: Optional[str] = "L", pts: Optional[List[Point]] = None):
        return (p, scale, label, pts)

    out = f(call("f", p={"x": 1, "y": None}, scale=None, label=None, pts=[{"x": 2, "y": None}]))
    assert out.success, out.result_str
    assert out.result == (Point(x=1, y=0), 2, "L", [Point(x=2, y=0)])


def test_required_nullable_keeps_null():
    @tool
    def f(a: Optional[int]):
        return a

    assert f(call("f", a=None)).result is None


def test_invalid_arguments_do_not_run_the_implementation():
    ran = []

    @tool
    def f(a: int, mode: str = "x"):
        ran.append(a)

    out = f(call("f", a="not a number", extra=1))
    assert ran == []
    assert out.result_str == (
        "Error: invalid arguments for tool 'f': a: Input should be a valid integer, "
        "unable to parse string as an integer; extra: Extra inputs are not permitted"
    )
    assert out.error_message == out.result_str[len("Error: ") :]
    assert not out.success
    missing = f(call("f"))
    assert missing.result_str == "Error: invalid arguments for tool 'f': a: Field required"


def test_nested_model_validation_error_path():
    @tool
    def f(p: Point):
        return p

    out = f(call("f", p={"y": 1}))
    assert out.result_str == "Error: invalid arguments for tool 'f': p.x: Field required"


def test_raising_implementation():
    @tool
    def boom(a: int):
        raise ValueError(f"bad {a}")

    out = boom(call("boom", a=1))
    assert out.error_message == "bad 1" and out.result_str == "Error: bad 1" and out.result is None
    assert out.duration_s is not None

    @tool
    def silent():
        raise RuntimeError()

    assert silent(call("silent")).result_str == "Error: RuntimeError()"


def test_raising_processor_is_an_error_result():
    def proc(result, c):
        raise KeyError("nope")

    f = Function.from_callable(lambda: 1, name="f", processor=proc)
    out = f(call("f"))
    assert out.error_message == "'nope'" and out.result_str == "Error: 'nope'"


def test_custom_processor_named():
    def double(a: int) -> int:
        return a * 2

    f = Function.from_callable(double, processor=lambda result, c: f"{c.name}={result}")
    assert f(call("double", a=2)).result_str == "double=4"


def test_unlinked_raises_tool_binding_error():
    header = Function("search", "Search.", {"q": {"type": "string"}}, required=["q"])
    with pytest.raises(ToolBindingError) as e:
        header(call("search", q="x"))
    assert "Tool 'search' has no implementation" in str(e.value)
    with pytest.raises(ToolBindingError):
        asyncio.run(header.acall(call("search", q="x")))


def test_link_function_validates_with_the_implementation_signature():
    header = Function("search", "Search.", {"q": {"type": "string"}, "k": {"type": "integer"}}, required=["q"])
    with pytest.raises(TypeError, match="link_function expects a callable, got int"):
        header.link_function(3)

    def impl(q: str, k: int = 3):
        return f"{q}:{k}"

    header.link_function(impl)
    assert header.linked and header.function is impl
    assert header(call("search", q="x", k=None)).result == "x:3"
    assert header(call("search", q="x", k="7")).result == "x:7"
    assert header(call("search", k=1)).result_str == "Error: invalid arguments for tool 'search': q: Field required"


def test_kwargs_implementation_and_builtin_without_signature():
    header = Function("echo", "Echo.", {"a": {"type": "string"}}, required=["a"])
    header.link_function(lambda **kw: kw)
    assert header(call("echo", a="x", b=2)).result == {"a": "x", "b": 2}

    f = Function("f", "d", {"a": {"type": "integer"}}, required=["a"], function=dict)
    assert f(call("f", a=1)).result == {"a": 1}


def test_positional_only_parameters():
    def f(a: int, /, b: int = 1):
        return a - b

    fn = Function.from_callable(f)
    assert fn(call("f", a=5, b=2)).result == 3


def test_bind_returns_copy_and_checks_required():
    header = Function("search", "Search.", {"q": {"type": "string"}}, required=["q"])
    bound = header.bind(lambda q: q.upper())
    assert bound is not header and not header.linked and bound.linked
    assert bound(call("search", q="x")).result == "X"
    assert bound.to_tool() == header.to_tool()
    with pytest.raises(ToolBindingError, match=r"does not accept required parameter\(s\) \['q'\]; it accepts \['x'\]"):
        header.bind(lambda x: x)

    @tool(processor=lambda r, c: f"custom {r}")
    def search(q: str):
        return q

    from_function = header.bind(search)
    assert from_function(call("search", q="y")).result_str == "custom y"
    with pytest.raises(ToolBindingError, match="no implementation"):
        header.bind(Function("other", "d", {}))


def test_async_implementation_sync_and_async_paths():
    @tool
    async def fetch(url: str, retries: int = 1) -> str:
        await asyncio.sleep(0)
        return f"{url}#{retries}"

    assert fetch(call("fetch", url="u")).result == "u#1"  # no loop running: asyncio.run

    async def main():
        out = await fetch.acall(call("fetch", url="u", retries=None))
        assert out.result == "u#1" and out.duration_s is not None
        with pytest.raises(RuntimeError, match=r"Tool 'fetch' is async and an event loop is running"):
            fetch(call("fetch", url="u"))
        failing = await fetch.acall(call("fetch", url=3, retries="x"))
        assert failing.result_str.startswith("Error: invalid arguments for tool 'fetch': ")

    asyncio.run(main())


def test_acall_runs_sync_functions_in_a_thread():
    seen = []

    @tool
    def where() -> str:
        seen.append(threading.current_thread() is threading.main_thread())
        return "ok"

    out = asyncio.run(where.acall(call("where")))
    assert out.result == "ok" and seen == [False]


def test_acall_error_result():
    @tool
    async def boom():
        raise ValueError("async bad")

    out = asyncio.run(boom.acall(call("boom")))
    assert out.result_str == "Error: async bad" and out.error_message == "async bad"


def test_sync_function_returning_awaitable():
    async def inner():
        return 7

    f = Function.from_callable(lambda: inner(), name="f")
    assert f(call("f")).result == 7
    assert asyncio.run(f.acall(call("f"))).result == 7


def test_validator_is_built_once():
    f = Function.from_callable(lambda a: a, name="f")
    spec = f._spec
    f(call("f", a=1))
    f(call("f", a=2))
    assert f._spec is spec and spec.model is not None


def test_assigning_function_attribute_links_it():
    header = Function("search", "Search.", {"q": {"type": "string"}}, required=["q"])
    header.function = lambda q: q + "!"
    assert header.linked and header(call("search", q="a")).result == "a!"
    header.function = None
    assert not header.linked
    with pytest.raises(ToolBindingError):
        header(call("search", q="a"))


def test_argument_spec_is_shared_per_implementation():
    def impl(q: str):
        return q

    a = Function("a", "d", {"q": {"type": "string"}}, function=impl)
    b = Function("b", "d", {"q": {"type": "string"}}).bind(impl)
    assert a._spec is b._spec
