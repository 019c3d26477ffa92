"""AgentSpec is the one source of truth for an agent's config: pydantic validates entries (wrapped in a
ConfigError that names the agent, the file and each bad field), and generates the published JSON Schema."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
from pydantic import ValidationError
from support.pkgtree import write_tree

import lllm
import lllm.core.config as config_module
import lllm.core.spec as spec_module
from lllm import Runtime, load_package, resolve_config
from lllm.core.const import APITypes
from lllm.core.spec import (
    KNOWN_AGENT_KEYS,
    SCHEMA_PATH,
    AgentSpec,
    agent_config_schema,
    agent_config_schema_text,
    check_seconds,
    parse_agent_configs,
    write_agent_config_schema,
)
from lllm.errors import ConfigError

OK = {"model_name": "test", "system_prompt": "You help."}


def test_the_published_schema_file_is_generated_from_agentspec():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == agent_config_schema_text(), (
        "lllm/schemas/agent-config.schema.json is out of date with AgentSpec; regenerate it: python -m lllm.core.spec"
    )
    agent = agent_config_schema()["$defs"]["agent"]
    assert set(agent["properties"]) == set(AgentSpec.model_fields) == KNOWN_AGENT_KEYS
    assert agent["properties"]["max_llm_recall"] == {**AgentSpec.model_json_schema()["properties"]["max_llm_recall"]}
    assert agent["properties"]["max_llm_recall"]["minimum"] == 0 and "required" not in agent


def test_the_regeneration_command_writes_what_the_test_expects(tmp_path):
    out = tmp_path / "schema.json"
    assert write_agent_config_schema(out) == out and out.read_text(encoding="utf-8") == agent_config_schema_text()
    ran = subprocess.run(
        [sys.executable, "-W", "error", "-m", "lllm.core.spec", str(tmp_path / "cli.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "cli.json").read_text(encoding="utf-8") == agent_config_schema_text()


def test_every_old_import_path_names_the_same_objects():
    for name in (
        "AgentSpec",
        "parse_agent_configs",
        "check_seconds",
        "check_config_shape",
        "KNOWN_AGENT_KEYS",
        "misspelled_agent_key",
        "agent_config_schema",
    ):
        assert getattr(config_module, name) is getattr(spec_module, name), name
    assert lllm.AgentSpec is AgentSpec and lllm.agent_config_schema is agent_config_schema


def test_accepted_inputs_keep_their_values():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = AgentSpec.from_config(
            "a",
            {
                **OK,
                "api_type": "response",
                "model_args": None,
                "extra_settings": None,
                "tools": None,
                "max_retry_wait_s": 5,
                "call_deadline_s": None,
                "skills": "*",
                "context_manager": {"max_tokens": 100},
                "proxy": {"exec_env": None},
            },
        )
    assert spec.api_type is APITypes.RESPONSE and spec.model_args == {} and spec.tools == []
    assert spec.max_retry_wait_s == 5.0 and isinstance(spec.max_retry_wait_s, float) and spec.call_deadline_s is None
    assert (spec.max_exception_retry, spec.max_interrupt_steps, spec.max_llm_recall, spec.rate_limit_retries) == (
        3,
        5,
        2,
        6,
    )
    assert AgentSpec.from_config(
        "b", {"model_name": "m", "system_prompt_path": "p", "api_type": APITypes.COMPLETION, "skills": ["x"]}
    ).skills == ["x"]


def test_unknown_keys_become_model_args_with_a_did_you_mean_hint():
    with pytest.warns(UserWarning) as caught:
        spec = AgentSpec.from_config("a", {**OK, "max_interupt_steps": 9, "top_p": 0.5, "model_args": {"top_p": 0.9}})
    message = str(caught[0].message)
    assert message.startswith(
        "Agent 'a': unknown keys ['max_interupt_steps', 'top_p'] are passed to the model as "
        "model_args. Did you mean 'max_interrupt_steps' for 'max_interupt_steps'?"
    )
    assert caught[0].filename == __file__
    assert spec.model_args == {"max_interupt_steps": 9, "top_p": 0.9} and spec.max_interrupt_steps == 5


def test_a_bad_entry_lists_every_bad_field_and_chains_the_validation_error():
    with pytest.raises(ConfigError) as e:
        AgentSpec.from_config(
            "a", {**OK, "max_llm_recall": True, "api_type": "chat", "model_args": [1], "call_deadline_s": float("nan")}
        )
    assert str(e.value).splitlines() == [
        "Agent 'a': 4 problems:",
        "  - 'api_type' must be 'completion' or 'response', got str 'chat' (the API to call: Chat Completions / "
        "Messages, or OpenAI's Responses API)",
        "  - 'model_args' must be a mapping, got list [1] (arguments passed to the model, e.g. {temperature: 0.2})",
        "  - 'max_llm_recall' must be an integer, got bool True (how often a failed provider request is retried)",
        "  - 'call_deadline_s' must be a finite number, got float nan (a number of seconds > 0 or null (no deadline): "
        "the deadline for one agent call, retries and tools included)",
    ]
    assert isinstance(e.value.__cause__, ValidationError) and e.value.__cause__.error_count() == 4


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"system_prompt": "x"}, "Agent 'a': 'model_name' is required (the model to call, e.g. gpt-4o-mini"),
        ({"model_name": ""}, "Agent 'a': 'model_name': String should have at least 1 character, got str ''"),
        (
            {"model_name": "m"},
            "Agent 'a': one of 'system_prompt' (inline text) or 'system_prompt_path' (a prompt key) is required",
        ),
        (
            {**OK, "system_prompt_path": "p"},
            "Agent 'a': set exactly one of 'system_prompt' (inline text) or "
            "'system_prompt_path' (a prompt key), not both",
        ),
        ({**OK, "proxy": {"exec_env": "docker"}}, "Agent 'a': 'proxy': proxy block: exec_env must be one of"),
        ({**OK, "skills": 5}, "Agent 'a': 'skills' must be a list or a string, got int 5"),
        ({**OK, "rate_limit_retries": -1}, "Agent 'a': 'rate_limit_retries' must be >= 0, got int -1"),
        ({**OK, "max_exception_retry": 2.0}, "Agent 'a': 'max_exception_retry' must be an integer, got float 2.0"),
    ],
)
def test_each_rule_names_the_field_and_what_to_fix(raw, message):
    with pytest.raises(ConfigError) as e:
        AgentSpec.from_config("a", raw)
    assert str(e.value).startswith(message)


def test_check_seconds_uses_the_same_field_rules():
    assert check_seconds("Agent 'a'", "call_deadline_s", None) is None
    assert check_seconds("Agent 'a'", "max_retry_wait_s", 2) == 2.0
    with pytest.raises(ConfigError, match=r"^Agent 'a': 'max_retry_wait_s' must be a number, got None"):
        check_seconds("Agent 'a'", "max_retry_wait_s", None, ConfigError)
    with pytest.raises(ValueError, match=r"^x: 'call_deadline_s' must be > 0, got int 0"):
        check_seconds("x", "call_deadline_s", 0)


def test_parse_agent_configs_names_the_tactic_and_the_source():
    config = {"global": {"model_name": "test"}, "agent_configs": [{"name": "w"}]}
    with pytest.raises(ConfigError, match=r"^Agent 'w' of tactic 't' \(config 'app:c' \(c.yaml\)\): one of "):
        parse_agent_configs(config, ["w"], "t", source="config 'app:c' (c.yaml)")
    with pytest.raises(
        ConfigError,
        match=r"^Tactic 't': config \(config 'app:c'\): 'global.max_llm_recall' must be "
        r">= 0, got int -2",
    ):
        parse_agent_configs({"global": {"max_llm_recall": -2}}, ["w"], "t", source="config 'app:c'")


def test_a_config_file_names_the_file_and_every_bad_agent_field(tmp_path):
    write_tree(
        tmp_path,
        {
            "app/lllm.toml": '[package]\nname = "app"\n',
            "app/configs/team.yaml": """
            global: {model_name: test, max_retry_wait_s: 0}
            agent_configs:
              - {name: writer, system_prompt: Write., api_type: chat}
            agent_group_configs:
              critic: {system_prompt: Check., tools: search}
        """,
        },
    )
    rt = Runtime("t")
    load_package(tmp_path / "app", runtime=rt)
    with pytest.raises(ConfigError) as e:
        resolve_config("team", runtime=rt)
    lines = str(e.value).splitlines()
    assert lines[0] == f"Config 'app.configs:team' ({tmp_path / 'app/configs/team.yaml'}): 3 problems:"
    assert [line.split(" (")[0] for line in lines[1:]] == [
        "  - 'global.max_retry_wait_s' must be > 0, got int 0",
        "  - 'agent_configs[0].api_type' must be 'completion' or 'response', got str 'chat'",
        "  - 'agent_group_configs.critic.tools' must be a list, got str 'search'",
    ]


def test_direct_construction_follows_the_same_rules():
    with pytest.warns(DeprecationWarning):
        assert AgentSpec(name="b", model="m", system_prompt="s").model_name == "m"
    with pytest.raises(ValidationError, match="exactly one"):
        AgentSpec(name="b", model_name="m", system_prompt="s", system_prompt_path="p")
    with pytest.warns(UserWarning, match=r"Agent 'b': unknown keys \['temperature'\]"):
        assert AgentSpec(name="b", model_name="m", system_prompt="s", temperature=0.1).model_args == {
            "temperature": 0.1
        }
