"""Skills through configs and tactics: resolved once per tactic instance, applied to every agent built.

These run once AgentSpec.build accepts ``skills=`` (the tactic integration); until then they skip."""

from __future__ import annotations

import inspect

import pytest

from lllm import Tactic
from lllm.errors import ConfigError
from lllm.packages.config import AgentSpec, parse_agent_configs
from lllm.packages.runtime import Runtime
from lllm.packages.skills import SKILLS_BETA
from lllm.testing import MockInvoker, tool_calls

pytestmark = pytest.mark.skipif(
    "skills" not in inspect.signature(AgentSpec.build).parameters,
    reason="AgentSpec.build does not take skills= yet (tactic integration pending)",
)


def write_skill(base, name, body="Follow the steps."):
    (base / name).mkdir(parents=True)
    (base / name / "SKILL.md").write_text(f"---\nname: {name}\ndescription: The {name} skill.\n---\n{body}\n")


class Helper(Tactic, register=False):
    name = "helper"
    agent_group = ["a", "b"]

    def call(self, task: str) -> str:
        agent = self.agents["a"]
        agent.open("main")
        agent.receive(task)
        return agent.respond().content


def test_global_and_per_agent_skills_reach_prompts_tools_and_model_args(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_skill(tmp_path / ".agents" / "skills", "triage", body="Sort by severity.")
    config = {
        "global": {"model_name": "mock", "system_prompt": "Be useful.", "skills": ["triage"]},
        "agent_configs": [{"name": "a"}, {"name": "b", "skills": ["skill_01hosted"]}],
    }
    inv = MockInvoker([tool_calls(("activate_skill", {"name": "triage"}, "s1")), "sorted"])
    tactic = Helper(config, invoker=inv, runtime=Runtime("skills-tactic"))
    (tmp_path / ".agents" / "skills" / "triage" / "SKILL.md").unlink()  # resolved once, at construction
    assert tactic("triage these") == "sorted"
    first = inv.requests[0]
    assert "<name>triage</name>" in first.messages[0].content and first.tools == ["activate_skill"]
    assert "Sort by severity." in inv.requests[1].messages[-1].content
    b = tactic._agent_specs["b"].build(tactic.runtime, inv, skills=tactic._skills["b"])
    assert b.model_args["skills"] == [{"id": "skill_01hosted"}]  # the per-agent list replaced the global one
    assert b.model_args["extra_headers"] == {"anthropic-beta": SKILLS_BETA}
    assert "<available_skills>" not in b.system_prompt.prompt


def test_an_unknown_skill_fails_when_the_tactic_is_built(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = {
        "global": {"model_name": "mock", "system_prompt": "Hi"},
        "agent_configs": [{"name": "a", "skills": ["missing"]}, {"name": "b"}],
    }
    with pytest.raises(ConfigError, match="Skill 'missing' not found"):
        Helper(config, invoker=MockInvoker([]), runtime=Runtime("skills-tactic-2"))
    spec = parse_agent_configs(config, ["b"], "t")["b"]
    assert spec.build(Runtime("skills-tactic-3"), MockInvoker([])).tools == []


def test_the_offline_test_model_activates_a_real_skill(tmp_path, monkeypatch):
    """activate_skill's schema lists the skill names, so the test model picks one instead of 'test name'."""
    monkeypatch.chdir(tmp_path)
    write_skill(tmp_path / ".agents" / "skills", "triage", body="Sort by severity.")
    config = {
        "global": {"model_name": "test", "system_prompt": "Be useful.", "skills": ["triage"]},
        "agent_configs": [{"name": "a"}, {"name": "b"}],
    }
    session = Helper(config, runtime=Runtime("skills-test-model"))("triage these", return_session=True)
    call = session.agent_sessions["a"][0].interrupts[0][0]
    assert call.name == "activate_skill" and call.arguments == {"name": "triage"}
    assert call.error_message is None and "Sort by severity." in call.result
