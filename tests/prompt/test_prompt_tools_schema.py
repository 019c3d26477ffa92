"""Schema derivation of @tool / Function.from_callable, and the strict-mode form sent to OpenAI."""

from __future__ import annotations

import functools
from enum import Enum
from typing import Any, Dict, List, Literal, Optional

import jsonschema
import pytest
from pydantic import BaseModel

from lllm.core.tools import MCP, Function, strict_json_schema, tool


def walk(node: Any, path: str = "#"):
    """Every schema node (not the property-name maps) with its location."""
    if not isinstance(node, dict):
        return
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from walk(sub, f"{path}/properties/{name}")
    for name, sub in node.get("$defs", {}).items():
        yield from walk(sub, f"{path}/$defs/{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}/items")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}/additionalProperties")
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(node.get(key, ())):
            yield from walk(sub, f"{path}/{key}/{i}")


def assert_openai_strict(schema: Dict[str, Any]) -> None:
    """The rules OpenAI strict mode enforces on function parameters."""
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and "anyOf" not in schema
    for path, node in walk(schema):
        assert "default" not in node, path
        assert "allOf" not in node and "oneOf" not in node, path
        if "$ref" in node:
            assert set(node) == {"$ref"}, f"{path}: $ref with siblings"
            continue
        assert any(k in node for k in ("type", "anyOf", "enum", "const")), f"{path}: untyped node {node}"
        t = node.get("type")
        if t == "object" or (isinstance(t, list) and "object" in t):
            assert node["additionalProperties"] is False, path
            assert sorted(node["required"]) == sorted(node["properties"]), f"{path}: not every property required"


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    number: int = 1
    note: Optional[str] = None


class Opaque:
    """Pydantic cannot describe this type."""


def test_basic_types_required_and_defaults():
    @tool
    def f(s: str, i: int, x: float, b: bool, n: int = 3):
        return s

    params = f.parameters
    assert params["type"] == "object" and params["additionalProperties"] is False
    assert params["required"] == ["s", "i", "x", "b"]
    assert params["properties"] == {
        "s": {"type": "string"},
        "i": {"type": "integer"},
        "x": {"type": "number"},
        "b": {"type": "boolean"},
        "n": {"type": "integer", "description": "(default: 3)"},
    }
    assert "$defs" not in params


def test_containers_optional_literal_enum():
    @tool
    def f(
        tags: List[str],
        counts: Dict[str, int],
        mode: Literal["fast", "slow"],
        color: Color,
        maybe: Optional[int] = None,
        nullable: Optional[str] = ...,
        plain_list: list = (),
        plain_dict: dict = None,
    ):
        return 1

    props = f.parameters["properties"]
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["counts"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"]}
    assert props["color"] == {"$ref": "#/$defs/Color"}
    assert f.parameters["$defs"]["Color"]["enum"] == ["red", "blue"]
    # Optional[X] with a default is declared as X; without a default it stays nullable
    assert props["maybe"] == {"type": "integer", "description": "(default: None)"}
    assert props["nullable"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["plain_list"]["type"] == "array"
    assert props["plain_dict"]["type"] == "object"
    assert f.parameters["required"] == ["tags", "counts", "mode", "color", "nullable"]


def test_nested_models_keep_defs_at_top_level():
    @tool
    def f(home: Address, others: List[Address] = ()):
        return 1

    params = f.parameters
    assert params["properties"]["home"] == {"$ref": "#/$defs/Address"}
    assert params["properties"]["others"]["items"] == {"$ref": "#/$defs/Address"}
    assert set(params["$defs"]) == {"Address"}
    assert params["$defs"]["Address"]["required"] == ["street"]
    jsonschema.Draft202012Validator.check_schema(params)
    jsonschema.validate({"home": {"street": "x"}}, params)


def test_unschemable_untyped_and_any_become_strings():
    @tool
    def f(a: Opaque, b, c: Any, d: "UndefinedName" = None):  # noqa: F821
        return (a, b, c)

    with pytest.warns(UserWarning) as caught:
        props = f.parameters["properties"]
    said = sorted(str(w.message) for w in caught if "cannot describe" in str(w.message))
    # a type pydantic cannot describe falls back to a string, out loud; untyped and Any are strings by design
    assert len(said) == 2 and "parameter 'a' has type Opaque" in said[0] and "parameter 'd'" in said[1]
    assert all("Tool 'f'" in m and "Annotate" in m for m in said)
    # warned when the schema is first built (here, reading it), yet at the def line to fix
    where = {(w.filename, w.lineno) for w in caught if "cannot describe" in str(w.message)}
    assert where == {(__file__, f.function.__code__.co_firstlineno)}
    assert props["a"] == {"type": "string"}
    assert props["b"] == {"type": "string"}
    assert props["c"] == {"type": "string"}
    assert props["d"]["type"] == "string"


def test_skips_self_cls_varargs_kwargs():
    def f(self, cls, a: int, *args, b: str = "x", **kwargs):
        return a

    fn = Function.from_callable(f)
    assert list(fn.parameters["properties"]) == ["a", "b"]
    assert fn.required == ["a"]


def test_parameter_names_that_shadow_pydantic_attributes():
    @tool
    def f(json: int, model_config: str, schema: bool = False):
        return json

    assert list(f.parameters["properties"]) == ["json", "model_config", "schema"]
    assert f.required == ["json", "model_config"]


def test_google_docstring_description_and_params():
    @tool
    def get_weather(city: str, units: str = "c") -> str:
        """Get the weather.

        Uses a fake service.

        Args:
            city: The city name.
            units: Temperature units.
        """
        return city

    assert get_weather.name == "get_weather"
    assert get_weather.description == "Get the weather.\n\nUses a fake service."
    props = get_weather.parameters["properties"]
    assert props["city"]["description"] == "The city name."
    assert props["units"]["description"] == "Temperature units. (default: 'c')"


def test_numpy_and_rest_docstrings():
    def numpy_style(city: str):
        """Find a city.

        Parameters
        ----------
        city : str
            The city.
        """

    def rest_style(city: str):
        """Find a city.

        :param city: The city, reST.
        """

    assert Function.from_callable(numpy_style).properties["city"]["description"] == "The city."
    assert Function.from_callable(rest_style).properties["city"]["description"] == "The city, reST."
    assert Function.from_callable(rest_style).description == "Find a city."


def test_description_defaults_to_name_and_overrides():
    def nodoc(a: int):
        return a

    assert Function.from_callable(nodoc).description == "nodoc"
    fn = Function.from_callable(nodoc, name="renamed", description="Custom.", prop_desc={"a": "An int."})
    assert (fn.name, fn.description, fn.properties["a"]["description"]) == ("renamed", "Custom.", "An int.")


def test_prop_desc_overrides_docstring():
    @tool(prop_desc={"city": "From prop_desc."})
    def f(city: str):
        """Doc.

        Args:
            city: From docstring.
        """

    assert f.properties["city"]["description"] == "From prop_desc."


def test_unknown_prop_desc_key_is_an_error():
    with pytest.raises(ValueError) as e:

        @tool(prop_desc={"cty": "typo"})
        def f(city: str, units: str = "c"):
            return city

    assert str(e.value) == (
        "prop_desc for tool 'f' names unknown parameter(s) ['cty']; its parameters are ['city', 'units']"
    )


def test_tool_decorator_forms():
    def impl(a: int):
        return a

    bare = tool(impl)
    called = tool()(impl)
    described = tool("Adds.", {"a": "A."}, name="adder", strict=False)(impl)
    assert bare.name == called.name == "impl" and bare.linked and called.linked
    assert (described.name, described.description, described.strict) == ("adder", "Adds.", False)
    assert described.properties["a"]["description"] == "A."


def test_partial_and_callable_instance():
    def base(a: int, b: int):
        """Add two."""
        return a + b

    part = Function.from_callable(functools.partial(base, b=1))
    assert part.name == "base" and part.description == "Add two."

    class Adder:
        """Adds."""

        def __call__(self, a: int) -> int:
            return a

    inst = Function.from_callable(Adder())
    assert inst.name == "Adder" and list(inst.properties) == ["a"]


def test_invalid_names_and_non_callables():
    with pytest.raises(ValueError, match=r"Tool name '<lambda>' must match"):
        Function.from_callable(lambda x: x)
    assert Function.from_callable(lambda x: x, name="ok").name == "ok"
    with pytest.raises(TypeError, match="expects a plain callable"):
        Function.from_callable(42)


def test_manual_function_schema_and_validation_of_required():
    fn = Function("search", "Search.", {"q": {"type": "string"}, "k": {"type": "integer"}}, required=["q"])
    assert fn.parameters == {
        "type": "object",
        "properties": {"q": {"type": "string"}, "k": {"type": "integer"}},
        "required": ["q"],
        "additionalProperties": False,
    }
    assert not fn.linked and fn.function is None
    with pytest.raises(ValueError, match=r"required names \['x'\] are not among its properties"):
        Function("f", "d", {"a": {"type": "string"}}, required=["x"])


def test_to_tool_strict_form():
    @tool
    def f(city: str, days: int = 1, mode: Literal["a", "b"] = "a", home: Optional[Address] = None):
        """Forecast."""

    t = f.to_tool()
    assert t["type"] == "function"
    fn = t["function"]
    assert (fn["name"], fn["description"], fn["strict"]) == ("f", "Forecast.", True)
    params = fn["parameters"]
    assert_openai_strict(params)
    assert params["required"] == ["city", "days", "mode", "home"]
    assert params["properties"]["city"] == {"type": "string"}
    assert params["properties"]["days"] == {"type": ["integer", "null"], "description": "(default: 1)"}
    for name in ("days", "mode", "home"):  # optional ones accept null ("use the default")
        jsonschema.validate(None, {**params["properties"][name], "$defs": params["$defs"]})
    jsonschema.validate(
        {"city": "x", "days": None, "mode": None, "home": {"street": "s", "number": None, "note": None}}, params
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"city": "x", "days": None, "mode": None}, params)  # every property is required
    # the nested model's own optional fields are required-but-nullable too
    address = params["$defs"]["Address"]
    assert address["required"] == ["street", "number", "note"]
    assert address["properties"]["number"]["type"] == ["integer", "null"]
    # the non-strict form is untouched
    assert f.parameters["required"] == ["city"]
    assert "additionalProperties" not in f.parameters["$defs"]["Address"]


def test_strict_inlines_refs_with_siblings_and_enum_nullable():
    @tool(prop_desc={"color": "Pick one.", "home": "Where."})
    def f(color: Color, home: Address, other: Color = Color.RED):
        return 1

    params = f.to_tool()["function"]["parameters"]
    assert_openai_strict(params)
    assert params["properties"]["color"] == {"enum": ["red", "blue"], "type": "string", "description": "Pick one."}
    assert params["properties"]["home"]["description"] == "Where."
    assert params["properties"]["home"]["type"] == "object"
    other = params["properties"]["other"]
    jsonschema.validate(None, other)
    jsonschema.validate("red", other)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("green", other)


@pytest.mark.parametrize("annotation", [Dict[str, int], dict, Any, List[Any]])
def test_strict_falls_back_to_non_strict_when_inexpressible(annotation):
    def f(a: annotation, b: int = 1):  # type: ignore[valid-type]
        return a

    fn = Function.from_callable(f)
    assert fn.strict is True
    assert fn.strict_parameters is None or annotation is Any  # Any becomes a string, which is strict-ok
    t = fn.to_tool()["function"]
    if fn.strict_parameters is None:
        assert t["strict"] is False and t["parameters"] is fn.parameters
    else:
        assert t["strict"] is True
        assert_openai_strict(t["parameters"])


def test_non_strict_tool():
    @tool(strict=False)
    def f(a: int, b: int = 2):
        return a

    t = f.to_tool()["function"]
    assert t["strict"] is False
    assert t["parameters"] == f.parameters and t["parameters"]["required"] == ["a"]


def test_many_shapes_are_strict_valid():
    class Inner(BaseModel):
        values: List[int] = []
        label: Literal["x", "y"] = "x"

    class Outer(BaseModel):
        inner: Inner
        inners: List[Inner] = []
        maybe: Optional[Inner] = None

    @tool
    def f(
        a: Outer,
        b: List[List[str]],
        c: Optional[Literal[1, 2]] = None,
        d: Optional[List[Outer]] = None,
        e: Color = Color.BLUE,
        g: bool = False,
        h: float = 1.5,
    ):
        return 1

    params = f.to_tool()["function"]["parameters"]
    assert f.to_tool()["function"]["strict"] is True
    assert_openai_strict(params)
    # a fully-null answer for every optional parameter is valid against the strict schema
    jsonschema.validate(
        {
            "a": {"inner": {"values": None, "label": None}, "inners": None, "maybe": None},
            "b": [["x"]],
            "c": None,
            "d": None,
            "e": None,
            "g": None,
            "h": None,
        },
        params,
    )


def test_strict_json_schema_helper():
    assert strict_json_schema({"type": "array"}) is None
    assert strict_json_schema({"type": "object", "properties": {"a": {}}}) is None
    out = strict_json_schema({"type": "object", "title": "T", "properties": {"a": {"type": "string", "default": "x"}}})
    assert out == {
        "type": "object",
        "properties": {"a": {"type": ["string", "null"]}},
        "required": ["a"],
        "additionalProperties": False,
    }
    one_of = strict_json_schema(
        {
            "type": "object",
            "required": ["a"],
            "properties": {
                "a": {"oneOf": [{"type": "string"}, {"type": "integer"}], "discriminator": {"propertyName": "k"}}
            },
        }
    )
    assert one_of["properties"]["a"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}


def test_schema_caches_invalidate_on_assignment():
    fn = Function("f", "Old.", {"a": {"type": "string"}}, required=["a"])
    assert fn.to_tool() is fn.to_tool()
    fn.description = "New."
    assert fn.to_tool()["function"]["description"] == "New."
    fn.strict = False
    assert fn.to_tool()["function"]["strict"] is False


def test_mcp():
    m = MCP("docs", "https://example.com/mcp", allowed_tools=["search"])
    assert m.to_tool() == {
        "type": "mcp",
        "server_label": "docs",
        "server_url": "https://example.com/mcp",
        "require_approval": "never",
        "allowed_tools": ["search"],
    }
    for ok in ("never", "manual", "auto"):
        assert MCP("a", "u", require_approval=ok).require_approval == ok
    with pytest.raises(ValueError) as e:
        MCP("docs", "u", require_approval="always")
    assert str(e.value) == (
        "MCP server 'docs': require_approval must be one of ['never', 'manual', 'auto'], got 'always'"
    )
    assert MCP("a", "u") == MCP("a", "u") and MCP("a", "u") != MCP("b", "u")


def test_docstring_texts_are_read_when_the_tool_is_first_described():
    import subprocess
    import sys

    code = """
import sys
from lllm import Function

def get_weather(city: str) -> str:
    '''Get the weather for a city.

    Args:
        city: Name of the city, e.g. Paris.
    '''
    return city

fn = Function.from_callable(get_weather)
named = Function.from_callable(get_weather, description="Mine.")
assert 'docstring_parser' not in sys.modules  # defining a tool parses nothing yet
assert named.description == "Mine."
assert fn.description == "Get the weather for a city."
assert fn.properties["city"]["description"] == "Name of the city, e.g. Paris."
assert named.properties["city"]["description"] == "Name of the city, e.g. Paris."
assert fn.to_tool()["function"]["description"] == "Get the weather for a city."
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_an_unannotated_parameter_is_a_string_with_a_warning_naming_it():
    with pytest.warns(UserWarning, match=r"Tool 'add': parameter 'a' has no type annotation.*a: str to keep") as seen:

        @tool
        def add(a, b: int) -> int:
            return a + b

    assert [str(w.message).split(":")[0] for w in seen] == ["Tool 'add'"]  # b is annotated: one warning
    # it points at the def line to fix, not into LLLM
    assert (seen[0].filename, seen[0].lineno) == (__file__, add.function.__code__.co_firstlineno)
    assert add.parameters["properties"]["a"] == {"type": "string"}


def test_the_untyped_parameter_warning_points_at_the_def_however_the_tool_is_declared():
    from lllm.packages.runtime import Runtime

    def lookup(key):
        return key

    line = lookup.__code__.co_firstlineno
    for declare in (
        lambda: Function.from_callable(lookup),
        lambda: Runtime().register_tool("pkg/lookup", lookup),  # a package's tool: from inside LLLM
    ):
        with pytest.warns(UserWarning, match="parameter 'key' has no type annotation") as seen:
            declare()
        assert [(w.filename, w.lineno) for w in seen] == [(__file__, line)]


def test_a_callable_object_without_a_def_warns_where_it_is_declared():
    class Lookup:
        def __call__(self, key):
            return key

    with pytest.warns(UserWarning, match="parameter 'key' has no type annotation") as seen:
        Function.from_callable(Lookup(), name="lookup")
    assert seen[0].filename == __file__


def test_annotated_any_or_opted_out_parameters_do_not_warn():
    import warnings

    def f(x: Any, y):
        return x

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Function.from_callable(f, warn_untyped=False).parameters["properties"]["y"] == {"type": "string"}

        @tool
        def g(x: Any) -> str:
            return str(x)
