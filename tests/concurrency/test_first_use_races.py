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
from typing import Any, Dict, List, Optional

import pytest

PROCS, THREADS = 10, 8
ROOT = Path(__file__).resolve().parents[2]

# Runs each case of argv[2] (a JSON list of [name, code]; the code defines setup(), work(state) and
# after(state)) in turn: THREADS threads wait on a barrier, then call work() at once. Each case touches
# its own lazy state, so running them one after another in one process keeps every case a first use.
HARNESS = r"""
import json, sys, threading, warnings
warnings.simplefilter("error")  # a duplicate registration or a failed auto-init warns: count it as a failure
THREADS = int(sys.argv[1])
report = {}
for name, code in json.loads(sys.argv[2]):
    ns = {}
    exec(code, ns)
    barrier = threading.Barrier(THREADS)
    results, failures = [None] * THREADS, []
    state = ns["setup"]()

    def run(i, work=ns["work"], state=state, barrier=barrier, results=results, failures=failures):
        try:
            barrier.wait()
            results[i] = work(state)
        except BaseException as e:
            failures.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report[name] = {"results": results, "failures": failures, "after": ns["after"](state)}
print(json.dumps(report))
"""


def race(cases: Dict[str, str], *, cwd: Path = ROOT, env: Optional[Dict[str, str]] = None) -> Dict[str, List[Any]]:
    """Run ``cases`` in PROCS fresh processes at once; ``{case name: [one outcome per process]}``."""
    payload = json.dumps([[name, textwrap.dedent(code)] for name, code in cases.items()])
    full_env = {**os.environ, "LLLM_AUTO_INIT": "0", "PYTHONPATH": str(ROOT), **(env or {})}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HARNESS, str(THREADS), payload],
            cwd=cwd,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCS)
    ]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return {name: [r[name] for r in reports] for name in cases}


def assert_consistent(outcomes: List[Dict[str, Any]]) -> List[Any]:
    """No thread failed and, in each process, every thread saw the same result; returns one per process."""
    failures = [f for o in outcomes for f in o["failures"]]
    assert failures == [], f"{len(failures)} of {PROCS * THREADS} threads failed, e.g. {failures[:3]}"
    for o in outcomes:
        assert len({json.dumps(r, sort_keys=True) for r in o["results"]}) == 1, o["results"]
    return [o["results"][0] for o in outcomes]


CASES = {
    "registry": """
        def setup():
            return None
        def work(_):
            from lllm.invokers.base import build_invoker, registered_invokers
            return [type(build_invoker({})).__name__, registered_invokers()]
        def after(_):
            return None
    """,
    "pricing": """
        def setup():
            return None
        def work(_):
            from lllm.invokers.pricing import price_usage
            return price_usage("openai", "gpt-4o-mini", {"prompt_tokens": 1000, "completion_tokens": 100})["cost"]
        def after(_):
            return None
    """,
    "auto_invoker": """
        def setup():
            from lllm.invokers.router import AutoInvoker
            return AutoInvoker({})
        def work(auto):
            from lllm.invokers.router import resolve_endpoint, route
            ep = resolve_endpoint("openai", "m", api_base="http://127.0.0.1:9/v1", api_key="k")
            return [id(auto.invoker_for("openai/gpt-4o-mini")), route("claude-x"), ep.url]
        def after(auto):
            return sorted(auto._invokers)
    """,
    "background_loop": """
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
    """,
    "loops": """
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
            return len(http._sessions)  # the background loop's session (case above) is the only one left
    """,
    "auto_init": """
        def setup():
            return None
        def work(_):
            from lllm.packages.runtime import ensure_auto_init
            rt = ensure_auto_init()
            return [sorted(rt.packages), rt.keys("tactic"), rt.init_error]
        def after(_):
            from lllm.packages.runtime import get_default_runtime
            return get_default_runtime().generation
    """,
}

PROJECT = {
    "lllm.toml": '[package]\nname = "racy"\nversion = "0.1.0"\n',
    "prompts/system.py": 'from lllm import Prompt\nsystem = Prompt(path="system", prompt="You race.")\n',
    "tactics/solo.py": textwrap.dedent("""
        from lllm import Tactic

        class Solo(Tactic):
            name = "solo"
            agent_group = ["a"]

            def call(self, task):
                return task
    """),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> Dict[str, List[Any]]:
    """Every case of CASES, raced in PROCS fresh processes whose working directory is a small project."""
    project = tmp_path_factory.mktemp("racy")
    for rel, text in PROJECT.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)
    return race(CASES, cwd=project, env={"LLLM_HOME": str(project / "home")})


def test_invoker_registry_first_use(outcomes):
    firsts = assert_consistent(outcomes["registry"])
    assert all(r == ["AutoInvoker", ["anthropic", "auto", "litellm", "openai", "test"]] for r in firsts), firsts


def test_pricing_table_first_use(outcomes):
    costs = assert_consistent(outcomes["pricing"])
    assert len(set(costs)) == 1 and costs[0] > 0, costs


def test_auto_invoker_builds_one_invoker_per_kind(outcomes):
    """Threads sharing one AutoInvoker get the same routed invoker (one connection pool, one config)."""
    firsts = assert_consistent(outcomes["auto_invoker"])
    assert all(
        r[1:] == [["anthropic", "anthropic", "claude-x"], "http://127.0.0.1:9/v1/chat/completions"] for r in firsts
    )
    assert all(o["after"] == ["openai"] for o in outcomes["auto_invoker"])


def test_background_loop_and_its_http_session_first_use(outcomes):
    """One background loop (one thread) per process, and one pooled HTTP session on it."""
    assert_consistent(outcomes["background_loop"])
    assert all(o["after"] == [1, 1] for o in outcomes["background_loop"])


def test_http_sessions_on_many_loops_first_use(outcomes):
    """Each thread's own event loop gets exactly one session; sessions of finished loops are dropped."""
    assert assert_consistent(outcomes["loops"]) == [True] * PROCS
    assert all(o["after"] == 1 for o in outcomes["loops"])


def test_runtime_auto_init_runs_once(outcomes):
    """Threads asking for the auto-initialised default runtime at once load the project exactly once."""
    firsts = assert_consistent(outcomes["auto_init"])
    assert all(r == [["racy"], ["racy.tactics:solo"], None] for r in firsts), firsts
    assert len({o["after"] for o in outcomes["auto_init"]}) == 1  # as many registrations in every process


def test_user_registration_racing_builtin_registration():
    """A user invoker registered while other threads trigger the built-ins: both kinds end up registered."""
    outcomes = race(
        {
            "register": """
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
    """
        }
    )["register"]
    assert assert_consistent(outcomes) == ["TestInvoker"] * PROCS
    for o in outcomes:
        names = o["after"]
        assert {"auto", "openai", "anthropic", "litellm", "test"} <= set(names)
        assert len([n for n in names if n.startswith("mine")]) == THREADS // 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
