"""Short-path tests run in temporary folders with their own LLLM_HOME and a fresh default runtime."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # makes `support` importable
from support.pkgtree import fresh_default_runtime, isolated  # noqa: E402,F401 - autouse fixtures
