"""Tactic tools (§2.7): @tactictool, selection by '#sel', schemas, descriptions, the required config
binding, each call on a fresh tactic, errors and nesting as results, and the child session recorded
under the parent's sub_tactic_sessions[tool name]."""

from __future__ import annotations

import json
import warnings

import pytest
from pydantic import BaseModel, Field

from lllm import Agent, ConfigError, PackageInfo, Runtime, Tactic, TacticCallSession, build_tactic_function, tactictool
from lllm.core.message import FunctionCall
from lllm.core.tactic_tools import MAX_TACTIC_DEPTH, build_tactic_endpoint_info, call_tactic_proxy_endpoint
from lllm.testing import MockInvoker, tool_calls


class Query(BaseModel):
    topic: str = Field(description="What to summarize")
    words: int = 20


class Summary(BaseModel):
    text: str


def make_runtime() -> Runtime:
    rt = Runtime("tt")
    rt.register_package(PackageInfo("kit"))
    rt.register_config("summ", {"global": {"model_name": "test"}, "marker": "from-config"}, namespace="kit")
    return rt


RT = make_runtime()


class Summarizer(Tactic, runtime=RT):
    """Summarize a topic."""

    name = "summarizer"
    calls = []

    @tactictool("summarize", config="summ")
    def call(self, task: Query) -> Summary:
        """Summarize a topic in a few words."""
        Summarizer.calls.append((self, task.topic, self.config.get("marker")))  # the object: an id can be reused
        return Summary(text=f"{task.topic} in {task.words} words")


class Toolbox(Tactic, runtime=RT):
    name = "toolbox"

    def call(self, task: str) -> str:
        return task

    @tactictool("upper", config={})
    def upper(self, text: str, times: int = 1) -> str:
        """Upper-case a text."""
        return text.upper() * times

    @tactictool("lower", config={}, description="Lower-case a text.")
    def lower(self, text: str) -> str:
        return text.lower()


class Plain(Tactic, runtime=RT):
    name = "plain"

    def call(self, task: str) -> str:
        raise RuntimeError(f"cannot do {task}")


class Single(Tactic, runtime=RT):
    """One tool only."""

    name = "single"

    def call(self, task: str) -> str:
        return task

    @tactictool("only", config={})
    def only(self, task: str) -> str:
        return "only " + task


for cls in (Summarizer, Toolbox, Plain, Single):  # as discovery would register them in package "kit"
    RT.register_tactic(cls.name, cls, overwrite=True, namespace="kit")


def run(fn, **arguments) -> FunctionCall:
    return fn(FunctionCall(id="c1", name=fn.name, arguments=arguments))


def test_decorator_misuse():
    with pytest.raises(TypeError, match=r"@tactictool needs a tool name"):

        @tactictool
        def call(self, task):
            pass

    with pytest.raises(ValueError, match="the tool name must not be empty"):
        tactictool(" ")


def test_call_tool_with_input_model_schema_and_config_name():
    fn = build_tactic_function("kit.tactics:summarizer", runtime=RT)
    assert fn.name == "summarize" and fn.description == "Summarize a topic in a few words."
    assert fn.required == ["topic"] and set(fn.properties) == {"topic", "words"}
    assert fn.properties["topic"]["description"] == "What to summarize"
    done = run(fn, topic="tides")
    assert done.result == '{"text":"tides in 20 words"}'
    done2 = run(fn, topic="moons", words=3)
    assert done2.result == '{"text":"moons in 3 words"}'
    (first, _, marker), (second, _, _) = Summarizer.calls[-2:]
    assert marker == "from-config" and first is not second  # a fresh tactic per call


def test_selection_rules():
    assert build_tactic_function("kit.tactics:toolbox#upper", runtime=RT).name == "upper"
    assert build_tactic_function("kit.tactics:toolbox#lower", runtime=RT).description == "Lower-case a text."
    assert build_tactic_function("kit.tactics:single", runtime=RT).name == "only"
    root = build_tactic_function("kit.tactics:single#root", runtime=RT, config={})
    assert root.name == "single" and root.description == "One tool only."
    with pytest.raises(ValueError) as e:
        build_tactic_function("kit.tactics:toolbox", runtime=RT)
    assert str(e.value) == "Tactic 'kit.tactics:toolbox' has several tools ['lower', 'upper']; pick one with '#<name>'"
    with pytest.raises(ValueError, match=r"has no tool or method 'nope'. Tools: \['lower', 'upper'\]"):
        build_tactic_function("kit.tactics:toolbox#nope", runtime=RT)
    with pytest.warns(RuntimeWarning) as rec:
        plain = build_tactic_function("kit.tactics:plain", runtime=RT, config={})
    messages = [str(w.message) for w in rec]
    assert messages[0] == "Tactic 'kit.tactics:plain' has no @tactictool method; offering its call() as the tool"
    assert messages[1].startswith("Tactic tool for 'plain' has no description; using \"Run the 'plain' tactic")
    assert plain.name == "plain" and plain.required == ["task"]


def test_signature_schema_and_method_dispatch():
    fn = build_tactic_function("kit.tactics:toolbox#upper", runtime=RT)
    assert fn.required == ["text"] and set(fn.properties) == {"text", "times"}
    assert run(fn, text="ab", times=2).result == "ABAB"


class Needy(Tactic, runtime=RT):
    """Needs agents, so it needs a config."""

    name = "needy"
    agent_group = ["helper"]

    @tactictool("ask_helper")
    def call(self, task: str) -> str:
        """Ask the helper."""
        h = self.agents["helper"]
        h.open("main")
        h.receive(task)
        return f"{h.model}: {h.respond().content}"


RT.register_tactic("needy", Needy, overwrite=True, namespace="kit")


def test_config_is_picked_by_name_as_lllm_run_does():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = build_tactic_function("kit.tactics:plain", runtime=RT)  # no agents: runs without a config
    assert run(plain, task="x").result_str == "Error: cannot do x"
    rt = make_runtime()
    rt.register_tactic("needy", Needy, overwrite=True, namespace="kit")
    with pytest.raises(ConfigError) as e:
        build_tactic_function("kit.tactics:needy", runtime=rt)
    assert str(e.value).startswith(
        "No config for tactic 'kit.tactics:needy' (tried ['kit.configs:needy', 'kit.configs:default']"
    )
    rt.register_config(
        "default",
        {"global": {"model_name": "test"}, "agent_configs": [{"name": "helper", "system_prompt": "d"}]},
        namespace="kit",
    )
    rt.register_config(
        "needy",
        {"global": {"model_name": "test"}, "agent_configs": [{"name": "helper", "system_prompt": "own"}]},
        namespace="kit",
    )
    fn = build_tactic_function("kit.tactics:needy", runtime=rt)
    assert fn.function.config["agent_configs"][0]["system_prompt"] == "own"
    fn = build_tactic_function("kit.tactics:summarizer", runtime=RT, config={"marker": "override"})
    run(fn, topic="x")
    assert Summarizer.calls[-1][2] == "override"


def test_use_model_passes_down_to_tactic_tools_and_is_replayed():
    from lllm.core.tactic import use_model
    from lllm.logging.replay import rerun

    rt = make_runtime()
    rt.register_tactic("needy", Needy, overwrite=True, namespace="kit")
    rt.register_config(
        "needy",
        {
            "global": {"model_name": "gpt-4o"},  # its own model: unreachable here
            "agent_configs": [{"name": "helper", "system_prompt": "own"}],
        },
        namespace="kit",
    )
    config = {
        "global": {"model_name": "gpt-4o", "tools": ["kit.tactics:needy"]},
        "agent_configs": [{"name": "lead", "system_prompt": "Lead."}],
    }
    with use_model("test"):
        session = Parent(config, runtime=rt)("ask the helper", return_session=True)
    child = session.sub_tactic_sessions["ask_helper"][0]
    assert session.agent_sessions["lead"][0].state == "success" and child.state == "success"
    assert child.delivery.startswith("test: ") and session.metadata["model_override"] == "test"
    replayed = rerun(TacticCallSession.model_validate_json(session.model_dump_json()), tactic=Parent, runtime=rt)
    assert replayed.delivery == session.delivery and replayed.metadata["diverged_at"] is None


def test_errors_and_depth_become_error_results():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn = build_tactic_function("kit.tactics:plain", runtime=RT, config={})
    done = run(fn, task="the dishes")
    assert done.result_str == "Error: cannot do the dishes"
    bad = run(build_tactic_function("kit.tactics:summarizer", runtime=RT), words=3)
    assert bad.result_str.startswith("Error: invalid arguments for tool 'summarize': topic: Field required")


class Recursive(Tactic, runtime=RT):
    """Calls itself through its own tool."""

    name = "recursive"
    depth_seen = []

    @tactictool("recurse", config={})
    def call(self, task: str) -> str:
        fn = build_tactic_function("kit.tactics:recursive", runtime=RT)
        Recursive.depth_seen.append(task)
        out = run(fn, task=task + "x")
        return out.result if out.error_message is None else out.result_str


RT.register_tactic("recursive", Recursive, overwrite=True, namespace="kit")


def test_nesting_beyond_max_depth_is_an_error_result():
    out = run(build_tactic_function("kit.tactics:recursive", runtime=RT), task="")
    assert MAX_TACTIC_DEPTH == 8
    assert out.result == f"Error: tactic tool 'recurse' would nest deeper than max_tactic_depth={MAX_TACTIC_DEPTH}"
    assert len(Recursive.depth_seen) == MAX_TACTIC_DEPTH


class Parent(Tactic, runtime=RT):
    """Uses the summarizer as a tool."""

    name = "parent"
    agent_group = ["lead"]

    def call(self, task: str) -> str:
        lead = self.agents["lead"]
        lead.open("main")
        lead.receive(task)
        return lead.respond().content


def test_child_session_is_recorded_under_the_tool_name():
    inv = MockInvoker([tool_calls(("summarize", {"topic": "owls"})), "done"])
    config = {
        "global": {"model_name": "m", "tools": ["kit.tactics:summarizer"]},
        "agent_configs": [{"name": "lead", "system_prompt": "Lead."}],
    }
    parent = Parent(config, runtime=RT, invoker=inv)
    session = parent("go", return_session=True)
    assert session.delivery == "done"
    assert list(session.sub_tactic_sessions) == ["summarize"]
    child = session.sub_tactic_sessions["summarize"][0]
    assert child.tactic_name == "summarizer" and child.state == "success"
    assert child.tactic_path == "kit::summarizer"
    assert child.delivery == Summary(text="owls in 20 words")
    tool_result = session.agent_sessions["lead"][0].interrupts[0][0]
    assert json.loads(tool_result.result) == {"text": "owls in 20 words"}


def test_as_function_and_agent_use_without_a_parent():
    fn = Summarizer.as_function(runtime=RT, name="summ2", description="Custom.")
    assert (fn.name, fn.description) == ("summ2", "Custom.")
    inv = MockInvoker([tool_calls(("summ2", {"topic": "bees"})), "ok"])
    agent = Agent(name="a", system_prompt="s", model="m", llm_invoker=inv, tools=[fn], runtime=RT)
    agent.open("d")
    agent.receive("go")
    session = agent.respond(return_session=True)
    assert json.loads(session.interrupts[0][0].result) == {"text": "bees in 20 words"}


def test_prompt_function_list_tactic_reference():
    from lllm import Prompt

    tools = Prompt("p", "x", function_list=["kit.tactics:toolbox#lower", "kit:summarizer"]).resolve_functions(RT)
    assert list(tools) == ["lower", "summarize"]


def test_proxy_endpoint_view():
    info = build_tactic_endpoint_info("kit.tactics:summarizer", runtime=RT)
    assert info["method"] == "TACTIC" and info["endpoint"] == "summarize"
    assert info["params"] == {"topic*": ("string", "What to summarize"), "words": ("integer", "")}
    assert call_tactic_proxy_endpoint(info, {"topic": "rain"}) == '{"text":"rain in 20 words"}'
