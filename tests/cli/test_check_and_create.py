"""`lllm check` finds what would fail later, before any model call; `lllm create` scaffolds a package
whose own test passes at once. Both through the real console entry point, in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.pkgtree import write_tree

ROOT = Path(__file__).resolve().parents[2]


def lllm(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(LLLM_HOME=str(cwd / ".home"), PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "lllm.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


BROKEN = {
    "lllm.toml": '[package]\nname = "shop"\n',
    "tools/lookup.py": '''
        from lllm import tool

        @tool
        def lookup(sku: str) -> str:
            """Look a product up."""
            return sku
    ''',
    "tools/broken.py": "import not_a_module_anywhere\n",
    "prompts/ask.py": """
        from lllm import Function, Prompt

        ask = Prompt(path="ask", prompt="Find {item}.", function_list=[
            Function("lookup", "Look a product up.", {"sku": {"type": "string"}}, ["sku"]),
            Function("price_of", "Price of a product.", {"sku": {"type": "string"}}, ["sku"])])
    """,
    "tactics/clerk.py": '''
        from lllm import Tactic, tactictool

        class Clerk(Tactic):
            name = "clerk"
            agent_group = ["clerk"]

            def call(self, task: str) -> str:
                return task

        class Helper(Tactic):
            name = "helper"
            agent_group = ["aide"]

            @tactictool("help_out")
            def call(self, task: str) -> str:
                """Help."""
                return task
    ''',
    "configs/clerk.yaml": """
        global: {model_name: test}
        agent_configs:
          - name: clerk
            system_prompt: "You serve {shop_name} customers."
            max_interupt_steps: 3
            temperature: 0.2
            tools: [shop.tools:lookup, shop.tools:missing]
    """,
}


def test_check_reports_every_problem_before_any_model_call(tmp_path):
    write_tree(tmp_path / "shop", BROKEN)
    out = lllm(tmp_path / "shop", "check", "--json")
    assert out.returncode == 1, out.stderr
    found = json.loads(out.stdout)
    text = "\n".join(f"{p['level']}: {p['where']}: {p['message']}" for p in found)
    assert "error: loading:" in text and "broken.py" in text  # a file that did not import
    assert "unknown key 'max_interupt_steps': did you mean 'max_interrupt_steps'?" in text
    assert "note: config shop.configs:clerk, agent clerk: unknown key 'temperature'" in text
    assert "no tool 'shop.tools:missing'" in text
    assert "prompt shop.prompts:ask" in text and "tried key 'shop.tools:price_of'" in text
    assert "tactic shop.tactics:helper" in text and "No config for tactic" in text
    assert "the system prompt needs ['shop_name']" in text
    assert "Traceback" not in out.stderr
    human = lllm(tmp_path / "shop", "check")
    assert human.returncode == 1 and "error(s)" in human.stderr and human.stdout.startswith("error: ")


def test_check_passes_on_the_examples():
    for example in ("travel_brief", "bookstore"):
        out = lllm(ROOT / "examples" / example, "check")
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stderr.startswith("0 error(s)")


def test_check_names_an_unknown_package(tmp_path):
    out = lllm(tmp_path, "check", "nope")
    assert out.returncode == 1 and out.stderr.startswith("Error: No package 'nope' is loaded")


def test_create_scaffolds_a_package_whose_test_passes_and_that_runs(tmp_path):
    made = lllm(tmp_path, "create", "research_notes")
    assert made.returncode == 0, made.stderr
    pkg = tmp_path / "research_notes"
    assert sorted(str(p.relative_to(pkg)) for p in pkg.rglob("*") if p.is_file()) == [
        "configs/default.yaml",
        "lllm.toml",
        "prompts/system.md",
        "tactics/research_notes.py",
        "tests/test_research_notes.py",
        "tools/word_count.py",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=pkg,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tests.returncode == 0 and "1 passed" in tests.stdout, tests.stdout + tests.stderr
    ran = lllm(pkg, "run", "research_notes.tactics:research_notes", "tide pools", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["result"]["topic"]
    assert lllm(pkg, "check").returncode == 0


@pytest.mark.parametrize(
    "name, message",
    [
        ("Bad-Name", "must be lower-case letters"),
        ("ok\n", "must be lower-case letters"),
        ("taken", "already exists and is not empty"),
    ],
)
def test_create_refuses_bad_names_and_never_overwrites(tmp_path, name, message):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep me")
    out = lllm(tmp_path, "create", name)
    assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr
    assert (tmp_path / "taken" / "mine.txt").read_text() == "keep me"
