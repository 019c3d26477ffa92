"""Ask the bookstore analyst a question: `python examples/bookstore/run.py "Which genre sold best in 2024?"`.

The example is an LLLM package (lllm.toml beside this file). With OPENAI_API_KEY (or --model) a real model
writes the code; without one, a scripted model plays the same steps offline — read the docs, run code that
calls CALL_API, answer from its output — so the example always runs."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lllm import build_tactic, load_runtime, resolve_config
from lllm.testing import MockInvoker, tool_calls

DEMO_QUESTION = "Which genre sold the most units in 2024, and how many?"
DEMO_CODE = """\
totals = {}
for genre in ["romance", "literary", "horror", "adventure", "historical", "science fiction", "mystery"]:
    months = CALL_API("bookstore/sales/monthly", {"year": 2024, "genre": genre})["months"]
    totals[genre] = sum(m["units"] for m in months)
best = max(totals, key=totals.get)
print(sorted(totals.items(), key=lambda kv: -kv[1]))
print("best:", best, totals[best])
"""


def demo_invoker() -> MockInvoker:
    """A scripted model: query_api_doc, then run_python with real code, then an answer from the output."""
    def answer(dialog) -> str:
        best = dialog.messages[-1].content.split("best: ", 1)[1].strip()
        genre, units = best.rsplit(" ", 1)
        return f"In 2024 {genre} sold the most: {units} units."

    return MockInvoker([
        tool_calls(("query_api_doc", {"proxy_name": "bookstore"})),
        tool_calls(("run_python", {"code": DEMO_CODE})),
        answer,
    ])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("question", nargs="?", default=DEMO_QUESTION)
    ap.add_argument("--model", help="e.g. gpt-4o-mini or anthropic/claude-sonnet-4-5")
    args = ap.parse_args(argv)
    runtime = load_runtime(Path(__file__).resolve().parent / "lllm.toml", name="bookstore",
                           discover_shared_packages=False)
    config = resolve_config("bookstore.configs:default", runtime=runtime)
    invoker = None
    if args.model:
        config["global"]["model_name"] = args.model
    elif not os.environ.get("OPENAI_API_KEY"):
        print("No OPENAI_API_KEY and no --model: a scripted model answers the demo question offline.\n")
        args.question, invoker = DEMO_QUESTION, demo_invoker()
    tactic = build_tactic(config, runtime=runtime, invoker=invoker)
    session = tactic(args.question, return_session=True)
    for agent_session in session.agent_sessions.get("analyst", []):
        for calls in agent_session.interrupts.values():
            for call in calls:
                preview = " | ".join(line for line in (call.result_str or "").splitlines() if line.strip())
                print(f"[{call.name}] -> {preview[:150]}")
    print(f"\nQ: {args.question}\nA: {session.delivery}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
