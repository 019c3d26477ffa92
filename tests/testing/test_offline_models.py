"""lllm.testing: the schema-driven TestInvoker (model="test") and MockInvoker's contract."""

from __future__ import annotations

from typing import List, Literal, Optional

import jsonschema
import pytest
from pydantic import BaseModel

from lllm import Agent, Prompt, Roles, tool
from lllm.core.parsers import DefaultTagParser
from lllm.errors import LLLMError
from lllm.invokers.base import build_invoker
from lllm.testing import MockInvoker, TestInvoker, sample_json

calls = []


class Address(BaseModel):
    street: str
    zip_code: Optional[str] = None


@tool
def lookup(name: str, tags: List[str], mode: Literal["fast", "slow"], address: Address, limit: int = 3) -> str:
    """Look something up."""
    calls.append((name, tags, mode, address, limit))
    return f"found {name}"


@tool
def second(flag: bool) -> str:
    """Another tool."""
    return "second done"


class Plan(BaseModel):
    title: str
    steps: List[str]
    priority: Literal["low", "high"]
    owner: Optional[Address] = None


def test_model_test_routes_to_the_test_invoker():
    assert isinstance(build_invoker({}).__class__, type)
    agent = Agent(name="a", system_prompt="s", model="test")
    agent.open("d")
    agent.receive("hello")
    assert agent.respond().content.startswith("Test answer to: hello")


def test_tools_are_each_called_once_with_schema_valid_arguments_then_it_answers():
    calls.clear()
    agent = Agent(name="a", system_prompt="s", model="test", llm_invoker=TestInvoker())
    agent.open("d")
    agent.receive_prompt(Prompt(path="t/tools", prompt="Find {name}", function_list=[lookup, second]), {"name": "Ada"})
    s = agent.respond(return_session=True)
    assert [c.name for c in s.interrupts[0]] == ["lookup", "second"]
    assert calls and calls[0][0] == "Ada" and calls[0][2] == "fast"  # prompt args are used as hints
    for c in s.interrupts[0]:
        fn = {"lookup": lookup, "second": second}[c.name]
        jsonschema.validate(c.arguments, fn.parameters)
    assert s.delivery.role == Roles.ASSISTANT and "found Ada" in s.delivery.content
    assert s.invoke_count == 2 and s.cost.cost == 0 and s.cost.prompt_tokens > 0


def test_format_answers_validate_against_the_model():
    agent = Agent(name="a", system_prompt="s", model="test")
    agent.open("d")
    agent.receive_prompt(Prompt(path="t/plan", prompt="Plan {title}", format=Plan), {"title": "launch"})
    plan = agent.respond().parsed_as(Plan)
    assert plan.title == "launch" and plan.steps and plan.priority == "low"


def test_tag_parser_requirements_are_satisfied():
    parser = DefaultTagParser(
        xml_tags=["thought"], md_tags=["python"], signal_tags=["DONE"], required_xml_tags=["answer"]
    )
    agent = Agent(name="a", system_prompt="s", model="test")
    agent.open("d")
    agent.receive_prompt(Prompt(path="t/tags", prompt="Solve", parser=parser))
    parsed = agent.respond().parsed
    assert parsed["xml_tags"]["answer"] and parsed["md_tags"]["python"] and parsed["signal_tags"]["DONE"]


def test_sample_json_handles_refs_unions_enums_and_bounds():
    schema = {
        "type": "object",
        "$defs": {"X": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5}}}},
        "properties": {
            "x": {"$ref": "#/$defs/X"},
            "u": {"anyOf": [{"type": "null"}, {"type": "number"}]},
            "e": {"enum": ["a", "b"]},
            "s": {"type": "string", "minLength": 20},
            "d": {"type": "string", "format": "date"},
            "arr": {"type": "array", "items": {"type": "boolean"}},
        },
    }
    value = sample_json(schema)
    jsonschema.validate(value, schema)
    assert value["x"]["n"] == 5 and value["e"] == "a" and value["d"] == "2026-01-01"


def test_mock_invoker_records_requests_and_reports_exhaustion():
    inv = MockInvoker(["one"])
    agent = Agent(name="a", system_prompt="s", model="m", llm_invoker=inv, model_args={"temperature": 0})
    agent.open("d")
    agent.receive("q")
    agent.respond()
    req = inv.requests[0]
    assert (
        req.model == "m"
        and req.model_args == {"temperature": 0}
        and [m.role for m in req.messages] == [Roles.SYSTEM, Roles.USER]
    )
    assert inv.remaining == 0
    with pytest.raises(LLLMError, match="script exhausted: call 2"):
        inv.call(agent.current_dialog, "m")


def test_mock_invoker_rejects_unsupported_items():
    inv = MockInvoker([42])
    agent = Agent(name="a", system_prompt="s", model="m", llm_invoker=inv)
    agent.open("d")
    with pytest.raises(LLLMError, match="unsupported script item int"):
        inv.call(agent.current_dialog, "m")
