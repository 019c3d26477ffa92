"""The agent surface of proxies (§8.2): the proxy: block, injected tools, the system-prompt block, and an
agent that reads docs, runs code with CALL_API and answers — driven by a scripted model."""

from __future__ import annotations

import warnings

import pytest

from lllm import Agent, Prompt, Runtime, parse_agent_configs
from lllm.core.message import FunctionCall
from lllm.errors import ConfigError
from lllm.proxies import BaseProxy, ProxyRegistrator, build_proxy_surface, proxy_settings
from lllm.testing import MockInvoker, tool_calls


def make_runtime():
    rt = Runtime("surface-tests")

    @ProxyRegistrator(path="weather", name="Weather", description="Forecasts as {json} objects.", runtime=rt)
    class Weather(BaseProxy):
        @BaseProxy.endpoint(
            category="Forecast",
            endpoint="forecast",
            description="Daily forecast for a city.",
            params={"city*": (str, "Oslo"), "days": (int, 2)},
            response={"days": [{"max_c": 5}]},
        )
        def forecast(self, city, days=2):
            return {"city": city, "days": [{"max_c": 4 + i} for i in range(days)]}

    @ProxyRegistrator(path="news", name="News", description="Headlines.", runtime=rt)
    class News(BaseProxy):
        @BaseProxy.endpoint(category="News", endpoint="top", description="Top headlines.", params={}, response=[])
        def top(self, params):
            return ["a", "b"]

    rt.register_tool("shout", lambda text: text.upper())
    return rt


@pytest.fixture
def surfaces():
    made = []

    def build(cfg, prompt="You are a forecaster.", tools=(), rt=None):
        surface = build_proxy_surface(cfg, prompt, rt or make_runtime(), tools=tools)
        made.append(surface)
        return surface

    yield build
    for s in made:
        s.close()


def names(tools):
    return [t.name if hasattr(t, "name") else t for t in tools]


def test_without_a_proxy_block_nothing_changes(surfaces):
    prompt = Prompt(path="sys", prompt="Plain.")
    surface = surfaces(None, prompt, tools=["shout"])
    assert surface.system_prompt is prompt and surface.tools == ["shout"]
    assert surface.proxy_manager is None and surface.interpreter is None
    surface.close()


def test_interpreter_mode_injects_both_tools_and_a_prompt_block(surfaces):
    prompt = Prompt(path="sys", prompt="You are {role}.")
    surface = surfaces({"activate_proxies": ["weather"]}, prompt, tools=["shout"])
    assert names(surface.tools) == ["query_api_doc", "run_python", "shout"]
    assert surface.proxy_manager.available() == ["weather"]
    assert prompt.prompt == "You are {role}."  # the original is untouched
    assert surface.system_prompt.path == "sys" and surface.system_prompt.template_vars == {"role"}
    text = surface.system_prompt(role="a forecaster")
    assert text.startswith("You are a forecaster.\n\n## Data APIs")
    assert "Forecasts as {json} objects." in text  # braces from the directory are literal
    assert "- weather/forecast [GET]: Daily forecast for a city. Params: city (required), days" in text
    assert 'Output longer than 5000 characters is cut and ends with "... (truncated)"' in text
    assert "`run_python`" in text and "query_api_doc" in text


def test_every_agent_instance_gets_its_own_manager_and_interpreter(surfaces):
    a, b = surfaces({"activate_proxies": ["weather"]}), surfaces({"activate_proxies": ["weather"]})
    assert a.proxy_manager is not b.proxy_manager and a.interpreter is not b.interpreter
    assert a.interpreter.executor.pid is None  # the worker starts on the first run_python


@pytest.mark.parametrize("exec_env", ["jupyter", None])
def test_other_exec_envs_get_only_query_api_doc(surfaces, exec_env):
    surface = surfaces({"exec_env": exec_env})
    assert names(surface.tools) == ["query_api_doc"] and surface.interpreter is None
    text = surface.system_prompt.prompt
    assert "run_python" not in text and "## News (id: news)" in text and "## Weather (id: weather)" in text


def test_settings_are_validated():
    with pytest.raises(ConfigError, match="exec_env must be one of"):
        proxy_settings({"exec_env": "docker"})
    with pytest.raises(ConfigError, match="max_output_chars"):
        proxy_settings({"max_output_chars": -5})
    with pytest.raises(ConfigError, match="timeout"):
        proxy_settings({"timeout": "soon"})
    with pytest.raises(ConfigError, match="activate_proxies"):
        proxy_settings({"activate_proxies": [1]})
    with pytest.warns(UserWarning, match=r"unknown keys \['colour'\]"):
        assert proxy_settings({"colour": "blue"})["exec_env"] == "interpreter"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings = proxy_settings({"activate_proxies": "weather", "timeout": 5}, extra_proxies=["news", "weather"])
    assert settings["activate_proxies"] == ["weather", "news"] and settings["max_output_chars"] == 5000


def test_unknown_proxy_in_the_block_is_a_config_error(surfaces):
    with pytest.raises(ConfigError, match=r"no proxy named \['wether'\].*Available proxies"):
        surfaces({"activate_proxies": ["wether"]})


def test_custom_prompt_template(surfaces):
    surface = surfaces(
        {
            "prompt_template": "APIs ({max_output_chars}, {truncation_indicator}):\n{api_directory}\n"
            "Literal {{braces}}.",
            "max_output_chars": 0,
            "activate_proxies": ["news"],
        }
    )
    assert surface.system_prompt.prompt.endswith(
        "APIs (unlimited, ... (truncated)):\n## News (id: news)\nHeadlines.\n- news/top [GET]: Top headlines. "
        "Params: none\nLiteral {{braces}}."
    )
    assert "Literal {braces}." in surface.system_prompt()
    with pytest.raises(ConfigError, match=r"may use only .* not \['model'\]"):
        proxy_settings({"prompt_template": "{api_directory} for {model}"})
    with pytest.raises(ConfigError, match="not a valid template"):
        proxy_settings({"prompt_template": "{api_directory"})


def test_proxies_named_in_tools_are_activated(surfaces):
    surface = surfaces(None, tools=["news", "shout"])
    assert surface.proxy_manager.available() == ["news"]
    assert names(surface.tools) == ["query_api_doc", "run_python", "shout"]
    surface = surfaces({"activate_proxies": ["weather"], "exec_env": None}, tools=["news"])
    assert surface.proxy_manager.available() == ["news", "weather"]


def test_query_api_doc_tool(surfaces):
    doc_tool = surfaces({}).tools[0]
    ok = doc_tool(FunctionCall(id="1", name="query_api_doc", arguments={"proxy_name": "weather"}))
    assert ok.result_str.startswith("# Weather (id: weather)") and "- city (str, required)" in ok.result_str
    missing = doc_tool(FunctionCall(id="2", name="query_api_doc", arguments={"proxy_name": "stocks"}))
    assert missing.error_message is None
    assert missing.result_str == "Proxy 'stocks' not found. Available proxies: ['news', 'weather']"
    assert doc_tool.parameters["required"] == ["proxy_name"]


def test_run_python_tool_returns_plain_output(surfaces):
    surface = surfaces({"activate_proxies": ["weather"], "timeout": 10})
    run = surface.tools[1]
    call = run(
        FunctionCall(
            id="1",
            name="run_python",
            arguments={
                "code": "r = CALL_API('weather/forecast', {'city': 'Oslo', 'days': 3})\n"
                "print([d['max_c'] for d in r['days']])"
            },
        )
    )
    assert call.result_str == "[4, 5, 6]\n"
    assert "code" in run.parameters["required"]
    pid = surface.interpreter.executor.pid
    surface.close()
    assert pid is not None and surface.interpreter.executor.pid is None


def test_per_agent_block_deep_merges_over_the_global_one(surfaces):
    specs = parse_agent_configs(
        {
            "global": {
                "model_name": "test",
                "proxy": {"activate_proxies": ["weather"], "timeout": 9, "max_output_chars": 300},
            },
            "agent_configs": [
                {"name": "a", "system_prompt": "A.", "proxy": {"timeout": 3}},
                {"name": "b", "system_prompt": "B.", "proxy": {"exec_env": None}},
            ],
        },
        ["a", "b"],
        "t",
    )
    a = surfaces(specs["a"].proxy, specs["a"].system_prompt)
    b = surfaces(specs["b"].proxy, specs["b"].system_prompt)
    assert (a.interpreter.timeout, a.interpreter.max_output_chars) == (3.0, 300)
    assert b.interpreter is None and b.proxy_manager.available() == ["weather"]


FORECAST_CODE = """\
r = CALL_API("weather/forecast", {"city": "Oslo", "days": 3})
warmest = max(r["days"], key=lambda d: d["max_c"])
print("warmest max:", warmest["max_c"])
"""


def test_an_agent_reads_docs_runs_code_and_answers(surfaces):
    surface = surfaces({"activate_proxies": ["weather"], "timeout": 10})
    seen = {}

    def answer(dialog):
        seen["tool_results"] = [m.content for m in dialog.messages if m.role.value == "tool"]
        return "The warmest day in Oslo reaches 6°C."

    inv = MockInvoker(
        [
            tool_calls(("query_api_doc", {"proxy_name": "weather"})),
            tool_calls(("run_python", {"code": FORECAST_CODE})),
            answer,
        ]
    )
    agent = Agent(
        name="forecaster", system_prompt=surface.system_prompt, model="mock", llm_invoker=inv, tools=surface.tools
    )
    agent.open("chat")
    agent.receive("How warm does Oslo get in the next 3 days?")
    reply = agent.respond()
    assert reply.content == "The warmest day in Oslo reaches 6°C."
    assert inv.requests[0].tools == ["query_api_doc", "run_python"]
    system = inv.requests[0].messages[0].content
    assert "weather/forecast [GET]" in system
    docs, output = seen["tool_results"]
    assert docs.startswith("# Weather (id: weather)")
    assert output == "warmest max: 6\n"


def test_run_python_records_the_whole_output_and_shows_the_model_a_clipped_one():
    from lllm import Agent
    from lllm.packages.runtime import Runtime
    from lllm.proxies import build_proxy_surface
    from lllm.testing import MockInvoker, tool_calls

    surface = build_proxy_surface({"exec_env": "interpreter", "max_output_chars": 50}, "You code.", Runtime("rp"))
    try:
        agent = Agent(
            name="coder",
            system_prompt=surface.system_prompt,
            model="m",
            tools=surface.tools,
            llm_invoker=MockInvoker([tool_calls(("run_python", {"code": "print('x' * 500)"}, "r1")), "done"]),
        )
        agent.open("d")
        agent.receive("go")
        call = agent.respond(return_session=True).interrupts[0][0]
        assert call.arguments["code"] == "print('x' * 500)"
        assert call.result["output"] == "x" * 500 + "\n"  # recorded untruncated (§9.3)
        assert call.result_str == "x" * 50 + "... (truncated)" and call.result_str == call.result["shown"]
    finally:
        surface.close()


def test_an_unknown_sandbox_backend_is_a_config_error():
    from lllm.errors import ConfigError
    from lllm.proxies import proxy_settings

    with pytest.raises(ConfigError, match=r"backend must be one of \['auto', 'bwrap', 'subprocess', 'inprocess'\]"):
        proxy_settings({"backend": "docker"})
