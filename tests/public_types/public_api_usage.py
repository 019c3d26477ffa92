"""Typed user code over LLLM's public API, checked by mypy in ``.ci/lint`` and run by ``test_public_api_usage.py`` beside it.

Each line marked ``# type: ignore[...]`` must stay a type error: mypy runs with ``warn_unused_ignores``, so a public
hint that loosens to ``Any`` (and stops catching the mistake) fails the lint."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, List, Optional

from pydantic import BaseModel

from lllm import (
    AgentCallSession,
    BaseProxy,
    DefaultHandler,
    Prompt,
    Runtime,
    TacticCallSession,
    build_tactic_function,
    rerun,
    sqlite_store,
    use_invoker,
)
from lllm.eval import Variant, evaluate_dataset, evaluate_sessions
from lllm.invokers.offline import TestInvoker


class Answer(BaseModel):
    text: str


def lookup(city: str) -> str:
    """The city, upper-cased."""
    return city.upper()


def typed_use(rt: Runtime) -> List[str]:
    """What a typed program does with the public API; returns what it registered."""
    store = sqlite_store(":memory:", runtime=rt)
    prompt = Prompt(path="typing/ask", prompt="Weather in {city}?", format=Answer)
    rt.register_prompt(prompt)
    rt.register_tool("typing/lookup", lookup)
    session: Optional[AgentCallSession] = None
    follow_up = DefaultHandler().on_exception(prompt, session)
    proxy = BaseProxy(cutoff_date=dt.date(2024, 6, 30))
    with use_invoker(TestInvoker()) as invoker:
        assert invoker is not None
    recorded: List[TacticCallSession] = [store.load_session(r.session_id) for r in store.list_sessions()]
    assert recorded == [] and proxy.cutoff_date == dt.datetime(2024, 6, 30)
    return [prompt.path, follow_up.path, *rt.keys("tool")]


if TYPE_CHECKING:  # checked, never run

    def accepted(rt: Runtime, session: TacticCallSession) -> None:
        store = sqlite_store("sessions.db", runtime=rt)
        rerun(session, runtime=rt, log_store=store, invoker=TestInvoker())
        evaluate_sessions([session], [Variant(name="v")], store=store, runtime=rt, invoker=lambda v: TestInvoker())
        build_tactic_function("demo.tactics:brief", runtime=rt, config={"global": {"model_name": "test"}})

    def mistakes(rt: Runtime, session: TacticCallSession) -> None:
        sqlite_store(":memory:", runtime="default")  # type: ignore[arg-type]
        Prompt(path="typing/ask", prompt="{city}", format=Answer(text="x"))  # type: ignore[arg-type]
        rt.register_prompt("typing/ask")  # type: ignore[arg-type]
        use_invoker("test")  # type: ignore[arg-type]
        rerun(session, log_store="sessions.db")  # type: ignore[arg-type]
        BaseProxy(cutoff_date=20240630)  # type: ignore[arg-type]
        evaluate_dataset(lookup, [], [Variant(name="v")], invoker="test")  # type: ignore[arg-type]
        build_tactic_function("demo.tactics:brief", config=["default"])  # type: ignore[arg-type]
