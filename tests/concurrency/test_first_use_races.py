"""First use from many threads at once: every lazy, module-level initialisation in fresh processes.

Each case runs in ``PROCS`` fresh interpreters (nothing initialised yet); in each, ``THREADS`` threads
wait on a ``threading.Barrier`` and then touch the lazy state at the same moment. Every thread must
succeed and see the same thing as its siblings."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List

import pytest

PROCS, THREADS = 10, 8
ROOT = Path(__file__).resolve().parents[2]

HARNESS = r'''
import json, sys, threading, traceback, warnings
warnings.simplefilter("error")  # a duplicate registration or a failed auto-init warns: count it as a failure
THREADS = int(sys.argv[1])
barrier = threading.Barrier(THREADS)
results, failures = [None] * THREADS, []
{case}
state = setup()

def run(i):
    try:
        barrier.wait()
        results[i] = work(state)
    except BaseException as e:
        failures.append(f"{{type(e).__name__}}: {{e}}")

threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({{"results": results, "failures": failures, "after": after(state)}}))
'''


def race(case: str, *, cwd: Path = ROOT, env: Dict[str, str] | None = None) -> List[Dict[str, Any]]:
    """Run ``case`` (defines ``setup()``, ``work(state)``, ``after(state)``) in PROCS fresh processes at once."""
    code = HARNESS.format(case=textwrap.dedent(case))
    full_env = {**os.environ, "LLLM_AUTO_INIT": "0", "PYTHONPATH": str(ROOT), **(env or {})}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(THREADS)], cwd=cwd, env=full_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(PROCS)]
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    return outcomes


def assert_consistent(outcomes: List[Dict[str, Any]]) -> List[Any]:
    """No thread failed and, in each process, every thread saw the same result; returns one per process."""
    failures = [f for o in outcomes for f in o["failures"]]
    assert failures == [], f"{len(failures)} of {PROCS * THREADS} threads failed, e.g. {failures[:3]}"
    for o in outcomes:
        assert len({json.dumps(r, sort_keys=True) for r in o["results"]}) == 1, o["results"]
    return [o["results"][0] for o in outcomes]


def test_invoker_registry_first_use():
    outcomes = race("""
        def setup():
            return None
        def work(_):
            from lllm.invokers.base import build_invoker, registered_invokers
            return [type(build_invoker({})).__name__, registered_invokers()]
        def after(_):
            return None
    """)
    firsts = assert_consistent(outcomes)
    assert all(r == ["AutoInvoker", ["anthropic", "auto", "litellm", "openai", "test"]] for r in firsts), firsts


def test_user_registration_racing_builtin_registration():
    """A user invoker registered while other threads trigger the built-ins: both kinds end up registered."""
    outcomes = race("""
        import itertools
        counter = itertools.count()
        def setup():
            return None
        def work(_):
            from lllm.invokers.base import register_invoker, build_invoker
            from lllm.testing import TestInvoker
            i = next(counter)
            if i % 2 == 0:
                register_invoker(f"mine{i}", lambda cfg: TestInvoker(cfg))
            return type(build_invoker({"invoker": "test"})).__name__
        def after(_):
            from lllm.invokers.base import registered_invokers
            return registered_invokers()
    """)
    assert assert_consistent(outcomes) == ["TestInvoker"] * PROCS
    for o in outcomes:
        names = o["after"]
        assert {"auto", "openai", "anthropic", "litellm", "test"} <= set(names)
        assert len([n for n in names if n.startswith("mine")]) == THREADS // 2


def test_pricing_table_first_use():
    outcomes = race("""
        def setup():
            return None
        def work(_):
            from lllm.invokers.pricing import price_usage
            return price_usage("openai", "gpt-4o-mini", {"prompt_tokens": 1000, "completion_tokens": 100})["cost"]
        def after(_):
            return None
    """)
    costs = assert_consistent(outcomes)
    assert len(set(costs)) == 1 and costs[0] > 0, costs


def test_auto_invoker_builds_one_invoker_per_kind():
    """Threads sharing one AutoInvoker get the same routed invoker (one connection pool, one config)."""
    outcomes = race("""
        def setup():
            from lllm.invokers.router import AutoInvoker
            return AutoInvoker({})
        def work(auto):
            from lllm.invokers.router import resolve_endpoint, route
            ep = resolve_endpoint("openai", "m", api_base="http://127.0.0.1:9/v1", api_key="k")
            return [id(auto.invoker_for("openai/gpt-4o-mini")), route("claude-x"), ep.url]
        def after(auto):
            return sorted(auto._invokers)
    """)
    firsts = assert_consistent(outcomes)
    assert all(r[1:] == [["anthropic", "anthropic", "claude-x"], "http://127.0.0.1:9/v1/chat/completions"]
               for r in firsts)
    assert all(o["after"] == ["openai"] for o in outcomes)


def test_background_loop_and_its_http_session_first_use():
    """One background loop (one thread) per process, and one pooled HTTP session on it."""
    outcomes = race("""
        def setup():
            return None
        def work(_):
            from lllm.core.aio import background_loop, run_sync
            from lllm.invokers import http
            async def session_id():
                return id(http.get_session())
            return [id(background_loop()), run_sync(session_id())]
        def after(_):
            import threading
            from lllm.invokers import http
            return [sum(t.name == "lllm-loop" for t in threading.enumerate()), len(http._sessions)]
    """)
    assert_consistent(outcomes)
    assert all(o["after"] == [1, 1] for o in outcomes), [o["after"] for o in outcomes]


def test_http_sessions_on_many_loops_first_use():
    """Each thread's own event loop gets exactly one session; sessions of finished loops are dropped."""
    outcomes = race("""
        def setup():
            return None
        def work(_):
            import asyncio
            from lllm.invokers import http
            async def twice():
                a, b = http.get_session(), http.get_session()
                ok = a is b and not a.closed
                await http.aclose_session()
                return ok
            return asyncio.run(twice())
        def after(_):
            from lllm.invokers import http
            return len(http._sessions)
    """)
    assert assert_consistent(outcomes) == [True] * PROCS
    assert all(o["after"] == 0 for o in outcomes)


PROJECT = {
    "lllm.toml": '[package]\nname = "racy"\nversion = "0.1.0"\n',
    "prompts/system.py": 'from lllm import Prompt\nsystem = Prompt(path="system", prompt="You race.")\n',
    "tactics/solo.py": textwrap.dedent('''
        from lllm import Tactic

        class Solo(Tactic):
            name = "solo"
            agent_group = ["a"]

            def call(self, task):
                return task
    '''),
}


def test_runtime_auto_init_runs_once(tmp_path):
    """Threads asking for the auto-initialised default runtime at once load the project exactly once."""
    for rel, text in PROJECT.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    outcomes = race("""
        def setup():
            return None
        def work(_):
            from lllm.cli import _runtime
            rt = _runtime()
            return [sorted(rt.packages), rt.keys("tactic"), rt.init_error]
        def after(_):
            from lllm.core.runtime import get_default_runtime
            return get_default_runtime().generation
    """, cwd=tmp_path, env={"LLLM_HOME": str(tmp_path / "home")})
    firsts = assert_consistent(outcomes)
    assert all(r == [["racy"], ["racy.tactics:solo"], None] for r in firsts), firsts
    assert len({o["after"] for o in outcomes}) == 1  # the same number of registrations in every process


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
