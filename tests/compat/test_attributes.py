"""lllm-core 0.1.x attributes and keywords keep working (issue 10 §2); renamed ones warn, naming the new one."""

from __future__ import annotations

import warnings

import pytest

from lllm import MCP, Agent, AgentSpec, Dialog, Message, Prompt, Tactic, tool
from lllm.core.const import Roles
from lllm.core.message import InvokeCost, TokenLogprob
from lllm.core.resource import PackageInfo, ResourceNode
from lllm.core.runtime import Runtime
from lllm.invokers.base import BaseInvoker, InvokeResult


def test_agent_spec_model_is_the_deprecated_spelling_of_model_name():
    spec = AgentSpec.from_config("a", {"model_name": "test", "system_prompt": "s"})
    with pytest.warns(DeprecationWarning, match="AgentSpec.model_name"):
        assert spec.model == "test"
    with pytest.warns(DeprecationWarning, match=r"AgentSpec\(model_name=...\)"):
        old = AgentSpec(name="b", model="gpt-4o", system_prompt="s")
    assert old.model_name == "gpt-4o"


def test_resource_node_is_loaded_is_the_deprecated_spelling_of_loaded():
    node = ResourceNode.lazy("k", lambda: 42)
    with pytest.warns(DeprecationWarning, match="ResourceNode.loaded"):
        assert node.is_loaded is False
    assert node.value == 42
    with pytest.warns(DeprecationWarning):
        assert node.is_loaded is True


def test_register_config_accepts_config_data():
    rt = Runtime()
    with pytest.warns(DeprecationWarning, match=r"register_config\(data=...\)"):
        rt.register_config("limits", config_data={"max": 3})
    assert rt.get_config("limits") == {"max": 3}
    rt.register_config("positional", {"a": 1})  # 0.1.x positional order: (name, config_data, ...)
    assert rt.get_config("positional") == {"a": 1}


def test_tactic_summary_has_total_cost_beside_total_cost_usd():
    class Echo(Tactic):
        name = "compat_echo"
        agent_group = ["bot"]

        def call(self, task: str) -> str:
            agent = self.agents["bot"]
            agent.open("main")
            agent.receive(task)
            return agent.respond().content

    config = {"global": {"model_name": "test"}, "agent_configs": [{"name": "bot", "system_prompt": "Echo."}]}
    session = Echo(config, runtime=Runtime())("hi", return_session=True)
    summary = session.summary()
    assert summary["total_cost"] == str(session.total_cost)
    assert summary["total_cost_usd"] == round(session.total_cost.cost, 6)


def test_invoke_cost_has_the_audio_and_cache_read_fields():
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 50, "audio_tokens": 7},
        "completion_tokens_details": {"reasoning_tokens": 5, "audio_tokens": 3},
        "cache_read_input_token_cost": 1e-7,
        "response_cost": 0.01,
    }
    cost = InvokeCost.from_usage(usage)
    assert (
        cost.cached_prompt_tokens,
        cost.audio_prompt_tokens,
        cost.reasoning_tokens,
        cost.audio_completion_tokens,
    ) == (50, 7, 5, 3)
    assert cost.cache_read_input_token_cost == 1e-7 and cost.total_tokens == 120
    total = cost + cost
    assert total.audio_prompt_tokens == 14 and total.audio_completion_tokens == 6
    assert total.cache_read_input_token_cost == 0.0  # rates are not summed


class DetailsInvoker(BaseInvoker):
    """A user's own invoker that reports usage the OpenAI way, as lllm-core 0.1.x's docs show."""

    def call(
        self,
        dialog,
        model,
        model_args=None,
        parser_args=None,
        responder="assistant",
        metadata=None,
        api_type=None,
        stream_handler=None,
        *,
        functions=None,
    ):
        usage = {"prompt_tokens": 120, "completion_tokens": 8, "prompt_tokens_details": {"cached_tokens": 50}}
        return InvokeResult(message=Message(role=Roles.ASSISTANT, content="ok", name=responder, usage=usage))


def test_message_cost_reads_cached_tokens_from_a_custom_invoker():
    agent = Agent(name="bot", system_prompt="s", model="custom", llm_invoker=DetailsInvoker())
    agent.open("main")
    agent.receive("hi")
    message = agent.respond()
    assert message.cost.cached_prompt_tokens == 50
    assert agent.current_dialog.cost.cached_prompt_tokens == 50


def test_token_logprob_defaults_are_0_1_x():
    lp = TokenLogprob()
    assert (lp.token, lp.logprob, lp.bytes, lp.top_logprobs) == (None, None, None, [])
    nested = TokenLogprob(token="a", logprob=-0.1, top_logprobs=[{"token": "b", "logprob": -2.0}], extra=1)
    assert isinstance(nested.top_logprobs[0], TokenLogprob) and nested.model_dump()["extra"] == 1


def test_to_tool_accepts_the_invoker_argument():
    @tool(description="Add two numbers")
    def add(a: int, b: int) -> int:
        return a + b

    from lllm.core.const import Invokers

    assert add.to_tool(Invokers.LITELLM) == add.to_tool() and add.to_tool()["function"]["name"] == "add"
    server = MCP(server_label="docs", server_url="https://example.invalid/mcp")
    assert server.to_tool(Invokers.LITELLM) == server.to_tool() and server.to_tool()["type"] == "mcp"


def test_prompt_register_mcp_server():
    prompt = Prompt(path="compat/mcp", prompt="Use the docs.")
    a = MCP(server_label="docs", server_url="https://a.invalid/mcp")
    b = MCP(server_label="docs", server_url="https://b.invalid/mcp")
    prompt.register_mcp_server(a)
    prompt.register_mcp_server(b)  # same label replaces, as in 0.1.x
    assert [s.server_url for s in prompt.mcp_servers_list] == ["https://b.invalid/mcp"]
    assert prompt.mcp_servers["docs"] is b
    with pytest.raises(TypeError, match="register_mcp_server takes an MCP object"):
        prompt.register_mcp_server({"server_label": "x"})


def test_package_info_version_defaults_to_empty(tmp_path):
    assert PackageInfo(name="p").version == ""
    (tmp_path / "lllm.toml").write_text('[package]\nname = "noversion"\n')
    from lllm.core.discovery import load_package

    rt = Runtime()
    load_package(str(tmp_path / "lllm.toml"), runtime=rt)
    assert rt.packages["noversion"].version == ""


def test_renamed_spellings_do_not_warn_in_their_new_form():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = AgentSpec.from_config("a", {"model_name": "test", "system_prompt": "s"})
        assert spec.model_name == "test" and ResourceNode.eager("k", 1).loaded
        Dialog  # noqa: B018 - imported for the public names only


def test_prompt_ignores_unknown_keywords_as_0_1_x_did_but_says_so():
    with pytest.warns(UserWarning, match=r"Prompt 'tags': unknown keyword\(s\) \['xml_tags'\] are ignored"):
        prompt = Prompt(path="tags", prompt="Answer in <answer> tags.", xml_tags=["answer"])
    assert prompt.parser is None and prompt.prompt == "Answer in <answer> tags."
