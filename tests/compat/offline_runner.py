"""Run a script unmodified with every model routed to LLLM's offline test model:
``python offline_runner.py SCRIPT [ARGS...]`` (the script's folder goes first on sys.path, as for ``python SCRIPT``)."""

from __future__ import annotations

import os
import runpy
import sys

import lllm.invokers.router as router

_TEST_ROUTE = router.route("test")
router.route = lambda model: _TEST_ROUTE  # every model name, e.g. the examples' gpt-4o, answers offline

if __name__ == "__main__":
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
    runpy.run_path(sys.argv[0], run_name="__main__")
