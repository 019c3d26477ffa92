"""A driver in Ray's client mode for the tests: ``python drive_client.py ray://HOST:PORT BASE_URL TASK...`` runs
the tasks with ``ray_tactics.Echo`` through ``bcall(..., backend="ray", backend_options={"address": ...})``
(``fail_fast=False``) and prints one JSON list: each result, or ``"TypeName: message"`` for a failed task."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ray_tactics  # noqa: E402
from ray_tactics import Echo, config  # noqa: E402

if __name__ == "__main__":
    address, base, *tasks = sys.argv[1:]
    opts = {"address": address, "runtime_env": {"py_modules": [ray_tactics]}}
    out = Echo(config(base)).bcall(tasks, max_workers=3, fail_fast=False, backend="ray", backend_options=opts)
    print(json.dumps([f"{type(r).__name__}: {r}" if isinstance(r, BaseException) else r for r in out]))
