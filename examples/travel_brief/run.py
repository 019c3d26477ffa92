"""Run the travel-brief example: `python examples/travel_brief/run.py "Lisbon" --month may --days 4`.

The example is an LLLM package (lllm.toml beside this file), so from this folder the same run is
`lllm run travel_brief.tactics:travel_brief '{"city": "Lisbon", "month": "may", "days": 4}'`.
Without a provider key (and without --model) it runs offline on LLLM's deterministic test model."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lllm import build_tactic, load_runtime, resolve_config, sqlite_store


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("city", nargs="?", default="Lisbon")
    ap.add_argument("--month", default="may")
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--model", help="model for both agents, e.g. gpt-4o-mini or anthropic/claude-sonnet-4-5")
    args = ap.parse_args(argv)

    runtime = load_runtime(Path(__file__).resolve().parent / "lllm.toml", name="travel_brief",
                           discover_shared_packages=False)
    config = resolve_config("travel_brief.configs:default", runtime=runtime)
    model = args.model
    if model is None and not (os.environ.get("OPENAI_API_KEY") or os.environ.get("ANTHROPIC_API_KEY")):
        model = "test"
        print("No OPENAI_API_KEY or ANTHROPIC_API_KEY set and no --model given: running offline on LLLM's "
              "deterministic test model (model='test'). Set a key or pass --model for a real run.\n")
    elif model is None and not os.environ.get("OPENAI_API_KEY"):
        model = "anthropic/claude-haiku-4-5"
    if model:
        config["global"]["model_name"] = model

    here = Path(__file__).resolve().parent
    # Recorded where `lllm sessions` and `lllm replay` look when run from this folder (or in $LLLM_STORE).
    store = sqlite_store(os.environ.get("LLLM_STORE") or here / ".lllm" / "sessions.db", runtime=runtime)
    tactic = build_tactic(config, runtime=runtime, log_store=store)
    session = tactic({"city": args.city, "month": args.month, "days": args.days}, return_session=True)
    brief = session.delivery
    print(brief.model_dump_json(indent=2))
    cost = session.total_cost
    print(f"\n{session.agent_call_count} agent calls, {cost.prompt_tokens} prompt + {cost.completion_tokens} "
          f"completion tokens, ${cost.cost:.6f}. Session {session.session_id} recorded; from {here.name}/ try:\n"
          f"  lllm sessions show {session.session_id}\n  lllm replay {session.session_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
