"""The bookstore analyst: one agent that answers questions about the store from its data.

Its config's `proxy:` block gives the agent `query_api_doc` (read an API's documentation) and
`run_python` (a sandboxed, persistent interpreter where `CALL_API` reaches the bookstore proxy)."""
from __future__ import annotations

from lllm import Tactic


class BookstoreAnalyst(Tactic):
    """Answer a question about the bookstore's catalogue, stock or sales."""

    name = "bookstore_analyst"
    agent_group = ["analyst"]

    def call(self, question: str) -> str:
        analyst = self.agents["analyst"]
        analyst.open("question")
        analyst.receive(question)
        return analyst.respond().content
