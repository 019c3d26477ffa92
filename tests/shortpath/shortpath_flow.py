"""The getting-started flow (planner -> researcher -> writer, one tool, typed result), built per test so
each test registers its tactic in its own fresh runtime; plus scripted OpenAI wire answers for it."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, Dict, List

from pydantic import BaseModel, Field

from lllm import Agent, tactic, tool

NOTES = {
    "what lives in tide pools?": "Anemones, crabs and sea stars.",
    "why do tide pools form?": "Rock basins keep water when the tide goes out.",
}


class Plan(BaseModel):
    questions: List[str] = Field(min_length=1)


class Brief(BaseModel):
    title: str
    summary: str


def make_flow(gather: bool = False, plan: type = Plan, **llm: Any) -> SimpleNamespace:
    """Fresh agents and a fresh ``brief`` tactic; ``searched`` lists the search tool's queries."""
    searched: List[str] = []

    @tool
    def search(query: str) -> str:
        """Look a topic up in the notes.

        Args:
            query: What to look for.
        """
        searched.append(query)
        return NOTES.get(query.lower(), "no notes")

    planner = Agent("planner", "Split the topic into research questions.", output=plan, **llm)
    researcher = Agent("researcher", "Answer using the search tool.", tools=[search], **llm)
    writer = Agent("writer", "Write a brief from the notes.", output=Brief, **llm)

    if gather:
        import asyncio

        @tactic
        async def brief(topic: str) -> Brief:
            questions = (await planner.arun(topic)).questions
            notes = await asyncio.gather(*(researcher.arun(q) for q in questions))
            return await writer.arun("\n".join(notes))
    else:

        @tactic
        async def brief(topic: str) -> Brief:
            plan = await planner.arun(topic)
            notes = [await researcher.arun(q) for q in plan.questions]
            return await writer.arun("\n".join(notes))

    return SimpleNamespace(brief=brief, planner=planner, researcher=researcher, writer=writer, searched=searched)


# ---------------------------------------------------------------------------------------------
# OpenAI Chat Completions answers, as a cassette for tests/support/cassette_server.py
# ---------------------------------------------------------------------------------------------


def _completion(message: Dict[str, Any], n: int) -> Dict[str, Any]:
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "served-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **message},
                "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
    }


def text(content: str) -> Dict[str, Any]:
    return {"content": content}


def call_tool(name: str, args: Dict[str, Any], call_id: str) -> Dict[str, Any]:
    return {
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}],
    }


def interactions(messages: List[Dict[str, Any]], path: str = "/v1/chat/completions") -> List[Dict[str, Any]]:
    return [
        {
            "request": {"method": "POST", "uri": f"http://127.0.0.1{path}"},
            "response": {"status": {"code": 200}, "parsed_body": _completion(m, i)},
        }
        for i, m in enumerate(messages)
    ]


QUESTIONS = ["What lives in tide pools?", "Why do tide pools form?"]
BRIEF = {"title": "Tide pools", "summary": "Rock basins that keep sea water and shelter anemones and crabs."}
SCRIPT = [  # the flow's six model calls in order: plan, (tool call, answer) per question, brief
    text(json.dumps({"questions": QUESTIONS})),
    call_tool("search", {"query": QUESTIONS[0]}, "call_1"),
    text("Anemones, crabs and sea stars live there."),
    call_tool("search", {"query": QUESTIONS[1]}, "call_2"),
    text("They form in rock basins at low tide."),
    text(json.dumps(BRIEF)),
]
