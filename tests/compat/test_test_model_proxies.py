"""The offline test model exercises a proxy for real (issue 10 §3): it reads a real proxy's docs, runs
code calling one documented endpoint with its example parameters, and answers from the output."""

from __future__ import annotations

from pathlib import Path

from lllm import build_tactic, load_package, resolve_config
from lllm.core.runtime import Runtime

BOOKSTORE = Path(__file__).resolve().parents[2] / "examples" / "bookstore"


def test_bookstore_tactic_offline_calls_a_real_endpoint():
    rt = Runtime()
    load_package(str(BOOKSTORE / "lllm.toml"), runtime=rt)
    config = resolve_config("bookstore:default", rt)
    config["global"]["model_name"] = "test"
    tactic = build_tactic(config, runtime=rt)
    session = tactic("Which author wrote the most books?", return_session=True)
    assert session.state == "success"
    agent_session = session.agent_sessions["analyst"][0]
    calls = [fc for step in sorted(agent_session.interrupts) for fc in agent_session.interrupts[step]]
    assert [c.name for c in calls] == ["query_api_doc", "run_python"]
    assert calls[0].arguments == {"proxy_name": "bookstore"}
    code = calls[1].arguments["code"]
    assert "CALL_API('bookstore/" in code
    assert calls[1].error_message is None and "Traceback" not in calls[1].result_str
    # the first documented endpoint with its example parameters: the French authors of the real data
    assert "CALL_API('bookstore/authors/list', {'country': 'France'})" in code
    assert "Jules Verne" in calls[1].result_str and "Victor Hugo" in calls[1].result_str
    assert "Jules Verne" in session.delivery


def test_query_only_agent_reads_the_docs_then_answers():
    from lllm import Agent
    from lllm.core.config import AgentSpec

    rt = Runtime()
    load_package(str(BOOKSTORE / "lllm.toml"), runtime=rt)
    spec = AgentSpec.from_config(
        "reader",
        {
            "model_name": "test",
            "system_prompt": "You read API docs.",
            "proxy": {"activate_proxies": ["bookstore"], "exec_env": None},
        },
    )
    from lllm.testing import TestInvoker

    agent = spec.build(rt, TestInvoker())
    assert isinstance(agent, Agent)
    agent.open("main")
    agent.receive("What can the bookstore API do?")
    reply = agent.respond()
    calls = [fc for m in agent.current_dialog.messages for fc in m.function_calls]
    assert [(c.name, c.arguments) for c in calls] == [("query_api_doc", {"proxy_name": "bookstore"})]
    docs = [m.text for m in agent.current_dialog.messages if m.name == "query_api_doc"]
    assert "Bookstore (id: bookstore)" in docs[0] and "Using query_api_doc: # Bookstore" in reply.content
