"""A configured endpoint is used without a key (no silent switch to the test model), and forks take
dotted overrides the way `--override` does, refusing ones that would change nothing."""

from __future__ import annotations

import pytest
from support.pkgtree import write_tree

from lllm import Tactic, TacticCallSession
from lllm.cli import configured_endpoint, main, offline_model
from lllm.errors import ConfigError
from lllm.logging.replay import apply_overrides, rerun
from lllm.testing import MockInvoker

CONFIG = {
    "global": {"model_name": "mock-model"},
    "agent_configs": [
        {"name": "researcher", "system_prompt": "You research."},
        {"name": "writer", "system_prompt": "You write."},
    ],
}


class Brief(Tactic, register=False):
    name = "brief"
    agent_group = ["researcher", "writer"]

    def call(self, task: str) -> str:
        r, w = self.agents["researcher"], self.agents["writer"]
        r.open("main")
        r.receive(f"Research {task}")
        notes = r.respond().content
        w.open("main")
        w.receive(f"Write a brief from: {notes}")
        return w.respond().content


def record() -> TacticCallSession:
    s = Brief(CONFIG, invoker=MockInvoker(["tides are tidal", "Tides rise and fall."]))("tides", return_session=True)
    s.session_id = "20260101_000000_deadbeef"
    return TacticCallSession.model_validate_json(s.model_dump_json())


def test_offline_default_only_when_nothing_reachable_is_configured(monkeypatch):
    for k in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(k, raising=False)
    assert offline_model(None, {"global": {"model_name": "gpt-4o"}}) == "test"
    assert offline_model(None, {"global": {"model_args": {"base_url": "http://127.0.0.1:1/v1"}}}) is None
    assert offline_model(None, {"invoker_config": {"base_url": "http://127.0.0.1:1/v1"}}) is None
    assert (
        configured_endpoint({"agent_configs": [{"name": "a", "model_args": {"api_base": "http://h/v1"}}]})
        == "http://h/v1"
    )
    assert offline_model("my-model", {}) == "my-model"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:2/v1")
    assert offline_model(None, {}) is None


def test_lllm_run_with_a_configured_base_url_and_no_key_calls_that_server(tmp_path, monkeypatch, capsys, fake_servers):
    base = fake_servers("--latency-ms", "0")
    fake_servers.stats(base, reset=True)
    write_tree(
        tmp_path / "proj",
        {
            "lllm.toml": '[package]\nname = "proj"\n',
            "tactics/ask.py": """
            from lllm import Tactic

            class Ask(Tactic):
                name = "ask"
                agent_group = ["a"]

                def call(self, task: str) -> str:
                    a = self.agents["a"]
                    a.open("main")
                    a.receive(task)
                    return f"{a.model}: {a.respond().content}"
        """,
            "configs/ask.yaml": f"global: {{model_name: local-llama, model_args: {{base_url: '{base}'}}}}\n"
            "agent_configs: [{name: a, system_prompt: You answer.}]\n",
        },
    )
    monkeypatch.chdir(tmp_path / "proj")
    assert main(["run", "ask", "hello"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("local-llama: ") and "offline" not in err
    assert fake_servers.stats(base)["chat_requests"] == 1


def test_rerun_takes_dotted_overrides_and_forks_at_the_changed_agent():
    from lllm.testing import TestInvoker

    recorded = record()
    forked = rerun(
        recorded,
        tactic=Brief,
        invoker=TestInvoker(),
        overrides={"agent_configs.writer.system_prompt": "You write tersely."},
    )
    at = forked.metadata["diverged_at"]
    assert at["agent"] == "writer" and "You write tersely." in at["diff"]
    assert forked.config["agent_configs"][1]["system_prompt"] == "You write tersely."
    assert "agent_configs.writer.system_prompt" not in forked.config


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"agent_configs.writer.system_prompt": "You write."}, "changes nothing"),
        ({"global": {"model_name": "mock-model"}}, "changes nothing"),
        (
            {"agent_configs.editor.system_prompt": "x"},
            "no agent 'editor' in agent_configs (agents: ['researcher', 'writer'])",
        ),
        ({"global.model_name.deep": "x"}, "'global.model_name' is a str, not a mapping"),
        ({"a..b": 1}, "expected a dotted path"),
    ],
)
def test_overrides_that_change_nothing_or_point_nowhere_are_refused(overrides, message):
    recorded = record()
    with pytest.raises(ConfigError) as ei:
        apply_overrides(recorded.config, overrides)
    assert message in str(ei.value)


def test_cli_replay_refuses_an_override_for_an_unknown_agent(tmp_path, capsys):
    from lllm.logging import sqlite_store

    store_path = tmp_path / "s.db"
    store = sqlite_store(str(store_path))
    sid = store.save_session(record())
    code = main(["replay", sid, "--store", str(store_path), "--override", "agent_configs.editor.system_prompt=x"])
    err = capsys.readouterr().err
    assert code == 1 and "no agent 'editor'" in err and "Traceback" not in err
