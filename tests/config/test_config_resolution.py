"""Configuration (§7): base inheritance across packages, cycles, vendoring, profiles, build_tactic
from a config name, and the published JSON Schema of the agent-config YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support.pkgtree import write_tree

from lllm import (
    Runtime,
    Tactic,
    agent_config_schema,
    build_tactic,
    load_config,
    load_package,
    resolve_config,
    resolve_profile,
    vendor_config,
)
from lllm.errors import ConfigError, ResourceNotFoundError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rt(tmp_path):
    write_tree(
        tmp_path,
        {
            "app/lllm.toml": '[package]\nname = "app"\n[dependencies]\npackages = ["../lib"]\n',
            "app/configs/default.yaml": """
            base: shared
            global:
              model_name: test
              model_args: {temperature: 0.1}
            agent_configs:
              - {name: writer, system_prompt: Write.}
            user_key: kept
        """,
            "app/configs/shared.yaml": """
            base: lib:base
            global:
              model_args: {top_p: 0.9, seed: 1}
              max_exception_retry: 1
            max_workers: 2
        """,
            "app/configs/prod.yaml": "base: default\nglobal: {model_name: gpt-4o-mini, model_args: {seed: null}}\n",
            "app/configs/loop_a.yaml": "base: loop_b\n",
            "app/configs/loop_b.yaml": "base: loop_c\n",
            "app/configs/loop_c.yaml": "base: loop_a\n",
            "app/configs/self.yaml": "base: self\n",
            "app/configs/listy.yaml": "- 1\n- 2\n",
            "app/configs/on_list.yaml": "base: listy\n",
            "app/configs/lost.yaml": "base: nowhere\n",
            "app/configs/bad_base.yaml": "base: [1]\n",
            "lib/lllm.toml": '[package]\nname = "lib"\n',
            "lib/configs/base.yaml": "base: inner\ntactic_type: duo\nglobal: {rate_limit_retries: 2}\n",
            "lib/configs/inner.yaml": "global: {model_args: {from_lib: true}}\n",
            "lib/configs/shared.yaml": "never: used\n",
        },
    )
    runtime = Runtime("cfg")
    load_package(tmp_path / "app", runtime=runtime)
    return runtime


def test_base_chain_is_merged_child_on_top(rt):
    assert resolve_config("default", runtime=rt) == {
        "tactic_type": "duo",
        "global": {
            "rate_limit_retries": 2,
            "model_args": {"from_lib": True, "top_p": 0.9, "seed": 1, "temperature": 0.1},
            "max_exception_retry": 1,
            "model_name": "test",
        },
        "max_workers": 2,
        "agent_configs": [{"name": "writer", "system_prompt": "Write."}],
        "user_key": "kept",
    }


def test_base_is_looked_up_in_the_childs_package_first(rt):
    # lib:base names `inner` without a package: lib.configs:inner, not app's (there is none) or the default
    assert resolve_config("lib:base", runtime=rt)["global"]["model_args"] == {"from_lib": True}
    # app's `shared` is used by app's default even though lib also has a `shared`
    assert "never" not in resolve_config("app.configs:default", runtime=rt)


def test_explicit_null_replaces_and_inputs_are_not_mutated(rt):
    prod = resolve_config("prod", runtime=rt)
    assert prod["global"]["model_name"] == "gpt-4o-mini" and prod["global"]["model_args"]["seed"] is None
    assert load_config("prod", runtime=rt) == {
        "base": "default",
        "global": {"model_name": "gpt-4o-mini", "model_args": {"seed": None}},
    }
    raw = rt.get_config("default")
    resolve_config("default", runtime=rt)["global"]["model_args"]["temperature"] = 9
    assert rt.get_config("default") is raw and raw["global"]["model_args"] == {"temperature": 0.1}


def test_cycles_show_the_chain_in_order(rt):
    with pytest.raises(ValueError) as e:
        resolve_config("loop_a", runtime=rt)
    assert str(e.value) == (
        "Config inheritance cycle: app.configs:loop_a -> app.configs:loop_b -> app.configs:loop_c -> app.configs:loop_a"
    )
    with pytest.raises(ValueError, match=r"cycle: app.configs:self -> app.configs:self$"):
        resolve_config("self", runtime=rt)


def test_non_mappings_missing_and_bad_bases(rt):
    with pytest.raises(
        ConfigError,
        match=r"^Config 'app.configs:listy' \(.*listy.yaml\) must be a mapping of config "
        r"fields, got list$",
    ):
        resolve_config("listy", runtime=rt)
    with pytest.raises(
        ConfigError,
        match=r"^Config 'app.configs:listy' \(base of 'app.configs:on_list'\) "
        r"\(.*listy.yaml\) must be a mapping",
    ):
        resolve_config("on_list", runtime=rt)
    with pytest.raises(ResourceNotFoundError, match=r"^Config 'app.configs:lost': base No config 'nowhere'"):
        resolve_config("lost", runtime=rt)
    with pytest.raises(
        ConfigError, match=r"bad_base.yaml\): 'base' must be the name of another config, got list \[1\]"
    ):
        resolve_config("bad_base", runtime=rt)


def test_vendor_config_is_standalone_with_overrides(rt):
    vendored = vendor_config("default", {"global": {"model_name": "other"}, "extra": 1}, runtime=rt)
    assert vendored["global"]["model_name"] == "other" and vendored["extra"] == 1 and "base" not in vendored
    vendored["global"]["model_args"]["top_p"] = 0
    assert resolve_config("default", runtime=rt)["global"]["model_args"]["top_p"] == 0.9
    from_dict = vendor_config({"base": "shared", "mine": True}, runtime=rt)
    assert from_dict["max_workers"] == 2 and from_dict["mine"] is True and "base" not in from_dict
    with pytest.raises(TypeError):
        vendor_config(3, runtime=rt)


def test_profiles(rt, monkeypatch):
    assert resolve_profile(runtime=rt)["global"]["model_name"] == "test"
    monkeypatch.setenv("LLLM_CONFIG_PROFILE", "prod")
    assert resolve_profile(runtime=rt)["global"]["model_name"] == "gpt-4o-mini"
    monkeypatch.setenv("MY_PROFILE", "staging")
    with pytest.raises(ResourceNotFoundError) as e:
        resolve_profile(env_var="MY_PROFILE", runtime=rt)
    assert str(e.value).startswith(
        "Unknown config profile 'staging' (from $MY_PROFILE or the default 'default'). "
        "Configs: ['app.configs:bad_base', "
    )


def test_build_tactic_from_a_config_name(rt):
    class Duo(Tactic, runtime=rt):
        name = "duo"
        agent_group = ["writer"]

        def call(self, task: str) -> str:
            return self.agents["writer"].model

    tactic = build_tactic("default", runtime=rt)
    assert isinstance(tactic, Duo) and tactic.max_workers == 2
    assert tactic("x") == "test"
    assert build_tactic({"base": "default", "global": {"model_name": "m2"}}, runtime=rt)("x") == "m2"


def test_agent_group_configs_merge_with_global():
    from lllm.packages.config import parse_agent_configs

    specs = parse_agent_configs(
        {
            "global": {"model_name": "test", "model_args": {"a": 1}},
            "agent_group_configs": {"critic": {"system_prompt": "C", "model_args": {"b": 2}}},
        },
        ["critic"],
        "t",
    )
    assert specs["critic"].model_args == {"a": 1, "b": 2} and specs["critic"].model_name == "test"


def test_an_agent_declared_twice_in_agent_configs_is_an_error():
    from lllm.packages.config import parse_agent_configs

    config = {
        "agent_configs": [
            {"name": "a", "model_name": "test", "system_prompt": "1"},
            {"name": "a", "model_name": "test", "system_prompt": "2"},
        ]
    }
    with pytest.raises(ConfigError) as e:
        parse_agent_configs(config, ["a"], "t")
    assert str(e.value) == "Tactic 't': agent_configs[1] repeats the agent name 'a'; each agent is declared once."


def test_published_schema_validates_configs():
    jsonschema = pytest.importorskip("jsonschema")
    schema = agent_config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for example in ("travel_brief", "bookstore"):
        config = yaml.safe_load((ROOT / f"examples/{example}/configs/default.yaml").read_text())
        assert list(validator.iter_errors(config)) == []
    bad = {
        "agent_configs": [{"system_prompt": "x", "system_prompt_path": "y", "max_interrupt_steps": -1}],
        "max_workers": 0,
    }
    messages = sorted(e.message for e in validator.iter_errors(bad))
    assert messages == [
        "'name' is a required property",
        "-1 is less than the minimum of 0",
        "0 is less than the minimum of 1",
        "{'system_prompt': 'x', 'system_prompt_path': 'y', 'max_interrupt_steps': -1} should not be "
        "valid under {'required': ['system_prompt', 'system_prompt_path']}",
    ]


def test_base_merges_agent_configs_by_name(tmp_path):
    write_tree(
        tmp_path,
        {
            "app/lllm.toml": '[package]\nname = "app"\n',
            "app/configs/team.yaml": """
            global: {model_name: test}
            agent_configs:
              - {name: planner, system_prompt: Plan., model_args: {temperature: 0.2}}
              - {name: writer, system_prompt: Write.}
        """,
            "app/configs/terse.yaml": """
            base: team
            agent_configs:
              - {name: writer, system_prompt: Write tersely.}
              - {name: critic, system_prompt: Criticise.}
        """,
            "app/configs/warm.yaml": "base: terse\nagent_configs: [{name: planner, model_args: {temperature: 0.9}}]\n",
        },
    )
    runtime = Runtime("merge")
    load_package(tmp_path / "app", runtime=runtime)
    assert resolve_config("terse", runtime=runtime)["agent_configs"] == [
        {"name": "planner", "system_prompt": "Plan.", "model_args": {"temperature": 0.2}},
        {"name": "writer", "system_prompt": "Write tersely."},
        {"name": "critic", "system_prompt": "Criticise."},
    ]
    planner = resolve_config("warm", runtime=runtime)["agent_configs"][0]
    assert planner == {"name": "planner", "system_prompt": "Plan.", "model_args": {"temperature": 0.9}}
    assert vendor_config("team", runtime=runtime, overrides={"agent_configs": [{"name": "writer", "model_name": "m"}]})[
        "agent_configs"
    ][1] == {"name": "writer", "system_prompt": "Write.", "model_name": "m"}
