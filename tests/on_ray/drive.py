"""A driver process for the tests: ``python drive.py ADDRESS STORE BATCH_ID BASE_URL N`` runs tasks
``t0..t{N-1}`` of ``ray_tactics.Ask`` on the Ray cluster at ADDRESS, recording into STORE (a PostgreSQL DSN
with ``#PARTITION``, or a SQLite file), and prints the results as one JSON list."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ray_tactics  # noqa: E402
from ray_tactics import Ask, config  # noqa: E402

from lllm.logging import postgres_store, sqlite_store  # noqa: E402


def open_store(spec: str):
    if spec.startswith("postgresql:"):
        dsn, _, partition = spec.partition("#")
        return postgres_store(dsn, partition=partition)
    return sqlite_store(spec)


if __name__ == "__main__":
    address, store, batch_id, base, n = sys.argv[1:6]
    tactic = Ask(config(base), log_store=open_store(store))
    opts = {"address": address, "runtime_env": {"py_modules": [ray_tactics]}}
    tasks = [f"t{i}" for i in range(int(n))]
    print(json.dumps(tactic.bcall(tasks, max_workers=2, batch_id=batch_id, backend="ray", backend_options=opts)))
