"""The bookstore example (examples/bookstore, an LLLM package): a SQLite-backed proxy discovered from
proxies/, and an analyst agent that answers through query_api_doc -> run_python -> CALL_API, driven by a
scripted model that writes real code."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lllm import Agent, build_tactic, load_runtime, resolve_config
from lllm.packages.config import AgentSpec
from lllm.proxies import ProxyManager, build_proxy_surface
from lllm.testing import MockInvoker

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bookstore"


@pytest.fixture(scope="module")
def rt():
    return load_runtime(EXAMPLE / "lllm.toml", name="bookstore-example-tests", discover_shared_packages=False)


@pytest.fixture(scope="module")
def run():
    """examples/bookstore/run.py, imported under a unique module name."""
    spec = importlib.util.spec_from_file_location("bookstore_example_run", EXAMPLE / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def best_genre_2024(rt):
    """The ground truth, straight from the database with SQL: (genre, units)."""
    build_database = sys.modules[rt.get_proxy("bookstore").__module__].build_database
    row = (
        build_database()
        .execute(
            "SELECT b.genre, SUM(s.units) FROM sales s JOIN books b ON b.id = s.book_id "
            "WHERE s.month LIKE '2024-%' GROUP BY b.genre ORDER BY 2 DESC LIMIT 1"
        )
        .fetchone()
    )
    return row[0], row[1]


def test_the_package_registers_proxy_tactic_and_config(rt):
    assert rt.keys() == [
        "bookstore.configs:default",
        "bookstore.proxies:bookstore",
        "bookstore.tactics:bookstore_analyst",
    ]


def test_the_proxy_serves_the_database(rt):
    pm = ProxyManager(["bookstore"], runtime=rt)
    assert pm("bookstore/books/search", {"q": "verne"})["count"] == 3
    assert pm("bookstore/books/get", {"book_id": 16})["title"] == "The Hound of the Baskervilles"
    assert [b["stock"] for b in pm("bookstore/inventory/low_stock", {"threshold": 1})["books"]] == [0, 1]
    assert len(pm("bookstore/sales/monthly", {"year": 2024, "genre": "horror"})["months"]) == 12
    assert [a["books"] for a in pm("bookstore/authors/list", {"country": "France"})["authors"]] == [3, 2]
    with pytest.raises(ValueError, match=r"missing required parameter\(s\) \['year'\]"):
        pm("bookstore/sales/monthly", {})
    with pytest.raises(KeyError, match="no book with id 999"):
        pm("bookstore/books/get", {"book_id": 999})
    assert all(v["status"] == "ok" for v in pm.proxies["bookstore"].auto_test().values())
    assert pm.endpoint_docs("bookstore.proxies:bookstore") == pm.endpoint_docs("bookstore")


def test_an_agent_answers_through_docs_code_and_call_api(rt, run, best_genre_2024):
    cfg = resolve_config("bookstore.configs:default", runtime=rt)["agent_configs"][0]
    surface = build_proxy_surface(cfg["proxy"], cfg["system_prompt"], rt)
    try:
        inv = run.demo_invoker()
        agent = Agent(
            name="analyst", system_prompt=surface.system_prompt, model="scripted", llm_invoker=inv, tools=surface.tools
        )
        agent.open("q")
        agent.receive(run.DEMO_QUESTION)
        session = agent.respond(return_session=True)
        genre, units = best_genre_2024
        assert session.delivery.content == f"In 2024 {genre} sold the most: {units} units."
        calls = [c for step in session.interrupts.values() for c in step]
        assert [c.name for c in calls] == ["query_api_doc", "run_python"]
        assert "## sales/monthly [GET] (Sales)" in calls[0].result_str
        assert calls[1].result_str.splitlines()[-1] == f"best: {genre} {units}"
        assert inv.requests[0].tools == ["query_api_doc", "run_python"]
        assert "bookstore/sales/monthly" in inv.requests[0].messages[0].content
    finally:
        surface.close()


def test_agent_spec_build_wires_the_proxy_block(rt):
    spec = AgentSpec.from_config(
        "probe",
        {"model_name": "test", "system_prompt": "x", "proxy": {"activate_proxies": ["bookstore"], "exec_env": None}},
    )
    agent = spec.build(rt, MockInvoker([]))
    assert [t.name for t in agent.tools] == ["query_api_doc"] and agent.proxy_surface is not None
    assert "bookstore/sales/monthly" in agent.system_prompt.prompt
    agent.proxy_surface.close()


def test_the_tactic_answers_from_its_package_config(rt, run, best_genre_2024):
    tactic = build_tactic("bookstore.configs:default", runtime=rt, invoker=run.demo_invoker())
    genre, units = best_genre_2024
    assert tactic(run.DEMO_QUESTION) == f"In 2024 {genre} sold the most: {units} units."


def test_run_py_offline(rt, best_genre_2024):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    out = subprocess.run(
        [sys.executable, str(EXAMPLE / "run.py")], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    genre, units = best_genre_2024
    assert "[query_api_doc]" in out.stdout and "[run_python]" in out.stdout
    assert f"A: In 2024 {genre} sold the most: {units} units." in out.stdout
