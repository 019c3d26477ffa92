"""Package tools and decoupled binding (§2.6): function_list URLs, headers bound by exact key, the
errors for each way a binding can fail, caching per runtime, and the agent using them end to end."""

from __future__ import annotations

import pytest
from support.pkgtree import write_tree

from lllm import Agent, Function, Prompt, Runtime, load_package
from lllm.errors import ToolBindingError
from lllm.testing import MockInvoker, tool_calls

TOOLS = {
    "lllm.toml": '[package]\nname = "kit"\n',
    "tools/search.py": """
        from lllm import tool

        def shout(result, call):
            return f"SEARCH: {result}"

        @tool(processor=shout)
        def search(q: str, limit: int = 3) -> str:
            \"\"\"Search the web.\"\"\"
            return f"{q}:{limit}"
    """,
    "tools/web.py": """
        from lllm import Function, tool

        @tool
        def fetch(url: str) -> str:
            \"\"\"Fetch.\"\"\"
            return "page " + url

        header_only = Function(name="header_only", description="No impl.", properties={})
    """,
    "tools/narrow.py": """
        from lllm import tool

        @tool
        def narrow(x: int) -> int:
            \"\"\"Takes x.\"\"\"
            return x
    """,
    "tools/both.py": """
        from lllm import tool

        @tool
        def both(task: str) -> str:
            \"\"\"Both a tool and a tactic.\"\"\"
            return task
    """,
    "tactics/both.py": """
        from lllm import Tactic

        class Both(Tactic):
            name = "both"
            def call(self, task: str) -> str:
                return task
    """,
    "prompts/ask.py": """
        from lllm import Function, Prompt

        search = Function(name="search", description="Find things (declared here, implemented in tools/).",
                          properties={"q": {"type": "string"}}, required=["q"])
        ask = Prompt(path="ask", prompt="Ask {q}", function_list=[search, "web/fetch"])
    """,
    "prompts/bad.py": """
        from lllm import Function, Prompt

        missing = Prompt(path="missing", prompt="x",
                         function_list=[Function(name="nope", description="d", properties={})])
        wrong_param = Prompt(path="wrong_param", prompt="x", function_list=[
            Function(name="narrow", description="d", properties={"y": {"type": "integer"}}, required=["y"])])
        unimplemented = Prompt(path="unimplemented", prompt="x", function_list=["web/header_only"])
    """,
}


@pytest.fixture
def kit(tmp_path):
    rt = Runtime("kit")
    load_package(write_tree(tmp_path / "kit", TOOLS), runtime=rt)
    return rt


def test_registered_tool_keys(kit):
    assert kit.keys("tool") == [
        "kit.tools:both",
        "kit.tools:narrow",
        "kit.tools:search",
        "kit.tools:web/fetch",
        "kit.tools:web/header_only",
    ]


def test_declaration_binds_to_the_package_tool_by_exact_key(kit):
    ask = kit.get_prompt("ask/ask")
    tools = ask.resolve_functions(kit)
    assert list(tools) == ["search", "fetch"]
    bound = tools["search"]
    assert bound.description == "Find things (declared here, implemented in tools/)."  # the declaration's schema
    assert bound.required == ["q"] and list(bound.properties) == ["q"]
    assert bound.function is kit.get_tool("search").function  # the implementation
    assert bound.processor is kit.get_tool("search").processor
    assert tools["fetch"] is kit.get_tool("web/fetch")
    assert not ask.functions["search"].linked and ask.function_refs == ["web/fetch"]  # never mutated


def test_explicit_implementation_wins(kit):
    ask = kit.get_prompt("ask/ask").with_functions(search=lambda q: "mine")
    assert ask.resolve_functions(kit)["search"].function(q="x") == "mine"


@pytest.mark.parametrize(
    "prompt, message",
    [
        (
            "missing",
            "Prompt 'missing': tool 'nope' is declared without an implementation and no package tool has that "
            "key (tried key 'kit.tools:nope'; tools of package 'kit': ['kit.tools:both', 'kit.tools:narrow', "
            "'kit.tools:search', 'kit.tools:web/fetch', 'kit.tools:web/header_only']). Register it as "
            "tools/nope.py in the package, or link one with prompt.with_functions(nope=...).",
        ),
        (
            "wrong_param",
            "Prompt 'wrong_param': tool 'narrow' is declared without an implementation and 'kit.tools:narrow' "
            "does not fit the declaration: Tool 'narrow': the implementation narrow does not accept required "
            "parameter(s) ['y']; it accepts ['x']",
        ),
        ("unimplemented", "Prompt 'unimplemented': tool 'kit.tools:web/header_only' has no implementation"),
    ],
)
def test_binding_errors(kit, prompt, message):
    with pytest.raises(ToolBindingError) as e:
        kit.get_prompt(f"bad/{prompt}").resolve_functions(kit)
    assert str(e.value).startswith(message)


def test_wrong_name_and_non_function_at_the_key():
    rt = Runtime("t")
    rt.register_package(__import__("lllm").PackageInfo("p"))
    rt.register(__import__("lllm").ResourceNode.eager("lookup", "not a function", "p.tools", "tool"))
    rt.register(
        __import__("lllm").ResourceNode.eager("other", Function("renamed", "d", {}, function=len), "p.tools", "tool")
    )
    header = Function(name="lookup", description="d", properties={})
    with pytest.raises(
        ToolBindingError, match=r"'p.tools:lookup' is a str, not a Function \(tried key 'p.tools:lookup'"
    ):
        Prompt("x", "x", function_list=[header]).resolve_functions(rt)
    with pytest.raises(ToolBindingError, match="'p.tools:other' is named 'renamed'"):
        Prompt("x", "x", function_list=[Function(name="other", description="d", properties={})]).resolve_functions(rt)


def test_function_list_url_forms(kit):
    def names(*refs):
        return {k: f.function for k, f in Prompt("t", "x", function_list=list(refs)).resolve_functions(kit).items()}

    assert names("kit.tools:search")["search"] is kit.get_tool("search").function
    assert names("kit:web/fetch")["fetch"] is kit.get_tool("web/fetch").function
    assert names("narrow")["narrow"] is kit.get_tool("narrow").function  # default package
    with pytest.raises(ValueError) as e:
        names("both")
    assert str(e.value) == (
        "Prompt 't': 'both' is ambiguous: both 'kit.tools:both' and 'kit.tactics:both' exist; use the full URL"
    )
    with pytest.raises(
        ToolBindingError,
        match=r"Prompt 't': no tool or tactic 'nothing' \(tried \['kit.tools:nothing', "
        r"'kit.tactics:nothing'\]\)",
    ):
        names("nothing")
    with pytest.raises(
        ToolBindingError,
        match="Prompt 't': no tool 'kit.tools:serch' in runtime 'kit'. Did you mean: "
        r"\['kit.tools:search', ",
    ):
        names("kit.tools:serch")
    with pytest.raises(TypeError, match="'kit.proxies:weather' is a proxy; proxies are activated in the agent config"):
        names("kit.proxies:weather")
    with pytest.raises(ValueError, match="Invalid resource key"):
        names("kit.tools:../../etc/passwd")


def test_a_selector_on_a_tool_url_is_an_error_not_ignored(kit):
    with pytest.raises(ToolBindingError) as e:
        Prompt("t", "x", function_list=["kit.tools:search#other"]).resolve_functions(kit)
    assert str(e.value) == (
        "Prompt 't': 'kit.tools:search#other': a '#other' selector picks a tactic's tool; "
        "a tool URL takes none (use 'kit.tools:search')"
    )


def test_prompt_package_is_tried_before_the_default(tmp_path):
    write_tree(
        tmp_path,
        {
            "app/lllm.toml": '[dependencies]\npackages = ["../lib"]\n',
            "app/tools/t.py": TOOL_T.format(who="app"),
            "lib/lllm.toml": "",
            "lib/tools/t.py": TOOL_T.format(who="lib"),
            "lib/prompts/p.py": "from lllm import Prompt\np = Prompt(path='p', prompt='x', function_list=['t'])\n",
        },
    )
    rt = Runtime("t")
    load_package(tmp_path / "app", runtime=rt)
    assert rt.default_namespace == "app"
    assert rt.get_prompt("lib:p/p").resolve_functions(rt)["t"].function() == "lib"
    assert Prompt("free", "x", function_list=["t"]).resolve_functions(rt)["t"].function() == "app"


TOOL_T = "from lllm import tool\n\n@tool\ndef t() -> str:\n    'T.'\n    return '{who}'\n"


def test_resolution_is_cached_per_runtime_and_invalidated_by_changes(kit):
    ask = kit.get_prompt("ask/ask")
    first = ask.resolve_functions(kit)
    assert ask.resolve_functions(kit)["search"] is first["search"]
    kit.register_tool("web/fetch", Function.from_callable(lambda url: "new", name="fetch"), namespace="kit")
    assert ask.resolve_functions(kit)["fetch"].function(url="u") == "new"


def test_agent_binds_before_spending_tokens_and_calls_package_tools(kit):
    inv = MockInvoker([tool_calls(("search", {"q": "cats"}), ("fetch", {"url": "u"})), "done"])
    agent = Agent(name="a", system_prompt="sys", model="m", llm_invoker=inv, runtime=kit)
    agent.open("d")
    agent.receive_prompt(kit.get_prompt("ask/ask"), {"q": "cats"})
    session = agent.respond(return_session=True)
    results = [c.result_str for c in session.interrupts[0]]
    assert results[0] == "SEARCH: cats:3"
    assert results[1].startswith("Return of calling function fetch")
    broken = MockInvoker(["never"])
    agent = Agent(name="b", system_prompt="sys", model="m", llm_invoker=broken, runtime=kit)
    agent.open("d")
    agent.receive_prompt(kit.get_prompt("bad/missing"))
    with pytest.raises(ToolBindingError):
        agent.respond()
    assert broken.requests == []


def test_agent_config_tools_urls(kit):
    inv = MockInvoker([tool_calls(("narrow", {"x": 2})), "ok"])
    agent = Agent(
        name="a",
        system_prompt="sys",
        model="m",
        llm_invoker=inv,
        runtime=kit,
        tools=["kit.tools:narrow", "kit.proxies:anything"],
    )
    agent.open("d")
    agent.receive("go")
    session = agent.respond(return_session=True)
    assert session.interrupts[0][0].result == 2
    assert inv.requests[0].tools == ["narrow"]
