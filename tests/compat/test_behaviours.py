"""lllm-core 0.1.x behaviours a user relies on (issue 10 §3), each through the real path."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import BaseModel

from lllm import Agent, Dialog, Message, Prompt, Tactic
from lllm.core.const import Roles
from lllm.core.message import FrozenMessageError
from lllm.core.runtime import Runtime
from lllm.testing import MockInvoker


# -- `lllm pkg` with no subcommand ----------------------------------------------------------------
def test_bare_lllm_pkg_prints_help_and_exits_0():
    out = subprocess.run(
        [sys.executable, "-m", "lllm.cli", "pkg"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"LLLM_AUTO_INIT": "0", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert "usage: lllm pkg" in out.stdout and "install" in out.stdout and "export" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "lllm.cli", "pkg", "instal"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"LLLM_AUTO_INIT": "0", "PATH": "/usr/bin:/bin"},
    )
    assert bad.returncode == 2 and "invalid choice: 'instal'" in bad.stderr


# -- `pkg:key` for a namespace registered by hand ----------------------------------------------------
def test_pkg_key_shorthand_resolves_a_hand_registered_namespace():
    from lllm.core.prompt import register_prompt

    rt = Runtime()
    register_prompt(Prompt(path="sys", prompt="You help."), namespace="mypkg.prompts", runtime=rt)
    assert rt.get_prompt("mypkg:sys").prompt == "You help."
    assert rt.get("mypkg.prompts:sys").prompt == "You help."
    agent = Agent(name="a", system_prompt=rt.get_prompt("mypkg:sys"), model="test", runtime=rt)
    assert agent.system_prompt.path == "sys"
    with pytest.raises(KeyError, match="mypkg:nope"):
        rt.get_prompt("mypkg:nope")


# -- the system prompt's format/parser applies to turns without their own ---------------------------
class Review(BaseModel):
    title: str
    rating: float


def test_system_prompt_format_applies_after_receive():
    system = Prompt(path="review/sys", prompt="Review the movie the user names.", format=Review)
    inv = MockInvoker(['{"title": "Inception", "rating": "not a number"}', '{"title": "Inception", "rating": 9}'])
    agent = Agent(name="critic", system_prompt=system, model="mock", llm_invoker=inv, max_exception_retry=2)
    agent.open("main")
    agent.receive("Review Inception.")
    session = agent.respond(return_session=True)
    reply = session.delivery
    assert reply.parsed["rating"] == 9 and reply.parsed_as(Review) == Review(title="Inception", rating=9)
    assert session.exception_retries_count == 1  # the invalid first answer was caught by the system format
    assert len(agent.current_dialog.messages) == 3  # system, user, the valid answer


def test_turn_prompt_with_its_own_parser_wins_over_the_system_prompt():
    system = Prompt(path="sys2", prompt="s", format=Review)
    turn = Prompt(path="turn", prompt="Say {x}", parser=lambda content, **_: {"echo": content})
    agent = Agent(name="b", system_prompt=system, model="mock", llm_invoker=MockInvoker(["free text"]))
    agent.open("main")
    agent.receive_prompt(turn, {"x": "hi"})
    assert agent.respond().parsed["echo"] == "free text"


def test_structured_output_example_runs_on_the_test_model():
    system = Prompt(path="review/movie", prompt="You are a film critic.", format=Review)
    agent = Tactic.quick(system_prompt=system, model="test")
    agent.open("session")
    agent.receive("Review the movie 'Inception' (2010) by Christopher Nolan.")
    response = agent.respond()
    review = Review(**response.parsed)
    assert isinstance(review.rating, float) and review.title


# -- appended messages are frozen ---------------------------------------------------------------------
def test_appended_messages_are_frozen():
    dialog = Dialog()
    mine = Message(role=Roles.USER, content="hello")
    dialog.append(mine)
    with pytest.raises(FrozenMessageError, match=r"dialog.fork\(\).*model_copy"):
        dialog.messages[0].content = "x"
    with pytest.raises(FrozenMessageError):
        mine.content = "x"  # the same object: the canonical dialog cannot change behind its back
    assert dialog.messages[0].content == "hello"
    edited = dialog.messages[0].model_copy(update={"content": "x"})
    edited.name = "me"  # a copy is an ordinary, editable Message
    child = dialog.fork()
    child.append(edited)
    assert [m.content for m in child.messages] == ["hello", "x"] and dialog.messages[0] == mine
    assert Dialog.from_dict(dialog.to_dict()).messages[0] == dialog.messages[0]


def test_messages_of_an_agent_dialog_are_frozen():
    agent = Agent(name="a", system_prompt="s", model="test")
    agent.open("main")
    agent.receive("hi")
    reply = agent.respond()
    with pytest.raises(FrozenMessageError, match="belongs to a dialog"):
        reply.content = "changed"
    with pytest.raises(FrozenMessageError):
        agent.current_dialog.messages[0].content = "x"


# -- typed task input: the same pydantic class imported twice ---------------------------------------
REVIEW_TACTIC = """
from pydantic import BaseModel
from lllm import Tactic


class CodeInput(BaseModel):
    code: str
    language: str = "python"


class CodeReviewTactic(Tactic):
    name = "code_review"
    agent_group = []

    def call(self, task: CodeInput) -> str:
        assert isinstance(task, CodeInput)
        return f"{task.language}: {len(task.code)} chars"
"""


def test_typed_input_accepts_the_class_imported_under_another_module_name(tmp_path, monkeypatch):
    import importlib

    pkg = tmp_path / "code_review_service"
    (pkg / "tactics").mkdir(parents=True)
    (pkg / "lllm.toml").write_text('[package]\nname = "code_review"\n[tactics]\npaths = ["tactics"]\n')
    (pkg / "tactics" / "code_review.py").write_text(REVIEW_TACTIC)
    from lllm.core.discovery import load_package

    rt = Runtime()
    load_package(str(pkg / "lllm.toml"), runtime=rt)  # discovery imports the file under its own module name
    monkeypatch.syspath_prepend(str(pkg))  # what the example's service.py does before its own import
    monkeypatch.delitem(sys.modules, "tactics", raising=False)
    monkeypatch.delitem(sys.modules, "tactics.code_review", raising=False)
    CodeInput = importlib.import_module("tactics.code_review").CodeInput  # noqa: N806
    tactic = rt.get_tactic("code_review")({}, runtime=rt)
    assert tactic(CodeInput(code="def add(a, b): return a + b")) == "python: 27 chars"
    assert tactic({"code": "x", "language": "go"}) == "go: 1 chars"

    class Other(BaseModel):
        source: str

    with pytest.raises(ValueError, match="task is not a valid CodeInput"):
        tactic(Other(source="x"))


# -- a prompt re-exported with `under` binds its tool declarations in its own package ----------------
def test_under_reexported_prompt_binds_tools_in_its_own_package(tmp_path):
    from support.pkgtree import write_tree

    from lllm.core.discovery import load_package
    from lllm.testing import MockInvoker, tool_calls

    write_tree(
        tmp_path,
        {
            "lib/lllm.toml": '[package]\nname = "lib"\n',
            "lib/tools/lookup.py": """
            from lllm import tool

            @tool
            def lookup(q: str) -> str:
                \"\"\"Look a word up.\"\"\"
                return "lib says " + q
        """,
            "lib/prompts/ask.py": """
            from lllm import Function, Prompt

            lookup = Function(name="lookup", description="Look up (implemented in lib's tools/).",
                              properties={"q": {"type": "string"}}, required=["q"])
            ask = Prompt(path="ask", prompt="Answer {q}", function_list=[lookup])
        """,
            "my_pkg/lllm.toml": '[package]\nname = "my_pkg"\n[dependencies]\npackages = ["../lib"]\n'
            '[prompts]\npaths = ["../lib/prompts under vendored"]\n',
        },
    )
    rt = Runtime()
    load_package(str(tmp_path / "my_pkg" / "lllm.toml"), runtime=rt)
    prompt = rt.get_prompt("my_pkg.prompts:vendored/ask/ask")
    assert prompt.resolve_functions(rt)["lookup"].linked
    inv = MockInvoker([tool_calls(("lookup", {"q": "owl"})), "done"])
    agent = Agent(name="a", system_prompt="s", model="m", llm_invoker=inv, runtime=rt)
    agent.open("main")
    agent.receive_prompt(prompt, {"q": "owl"})
    agent.respond()
    assert any("lib says owl" in m.text for m in agent.current_dialog.messages)
