"""Sandbox latency: worker start, a warm `run_python` round trip, and a `CALL_API` round trip.

    .venv/bin/python benchmarks/bench_sandbox.py [--runs 500]

Targets (issue 5): warm run_python("print(1)") <= 5 ms, CALL_API round trip from the worker <= 2 ms,
subprocess worker start <= 150 ms. The bwrap worker start (issue 8) is reported without a target. Warm
runs use the default backend (``auto``). Prints medians and p90s; exits 1 if a median misses its target."""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from lllm import Runtime
from lllm.proxies import BaseProxy, ProxyManager, ProxyRegistrator
from lllm.sandbox import AgentInterpreter, BwrapExecutor, SubprocessExecutor, bwrap_status
from lllm.sandbox.isolation import can_drop_privileges

TARGETS_MS = {"worker start": 150.0, "run_python print(1)": 5.0, "CALL_API round trip": 2.0}


def _proxy_manager() -> ProxyManager:
    rt = Runtime("bench-sandbox")

    @ProxyRegistrator(path="bench", name="Bench", description="Echo.", runtime=rt)
    class Bench(BaseProxy):
        @BaseProxy.endpoint(
            category="x",
            endpoint="echo",
            description="Echo the parameters.",
            params={"q*": (str, "hi")},
            response={"q": "hi"},
        )
        def echo(self, params):
            return {"q": params["q"], "n": 1}

    return ProxyManager(["bench"], runtime=rt)


def _stats(samples_s: list) -> tuple:
    ms = sorted(s * 1000 for s in samples_s)
    return statistics.median(ms), ms[int(len(ms) * 0.9) - 1]


def bench_start(n: int, drop_privileges: bool, cls: type = SubprocessExecutor) -> list:
    samples = []
    for _ in range(n):
        ex = cls(drop_privileges=drop_privileges)
        t = time.perf_counter()
        ex.start()
        samples.append(time.perf_counter() - t)
        ex.close()
    return samples


def bench_run(it: AgentInterpreter, n: int) -> list:
    for _ in range(20):
        it.run("print(1)")
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        out = it.run("print(1)")
        samples.append(time.perf_counter() - t)
    assert out == "1\n", out
    return samples


def bench_call_api(it: AgentInterpreter, n: int) -> list:
    """Timed inside the worker: CALL_API -> parent -> ProxyManager dispatch -> back."""
    out = it.run(
        f"import time\nfor _ in range(20): CALL_API('bench/echo', {{'q': 'x'}})\n"
        f"s = []\nfor _ in range({n}):\n    t = time.perf_counter()\n"
        f"    r = CALL_API('bench/echo', {{'q': 'x'}})\n    s.append(time.perf_counter() - t)\n"
        f"assert r == {{'q': 'x', 'n': 1}}\nprint(repr(s))"
    )
    return eval(out)  # noqa: S307 - our own list of floats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--starts", type=int, default=15)
    args = ap.parse_args(argv)
    privileged = can_drop_privileges()
    mode = "root: workers get their own uid" if privileged else "not root: workers share this uid"
    print(f"python {sys.version.split()[0]}, {mode}")
    rows = [("worker start", bench_start(args.starts, privileged))]
    if privileged:
        rows.append(("worker start (shared uid)", bench_start(args.starts, False)))
    if bwrap_status()[0]:
        rows.append(("worker start (bwrap)", bench_start(args.starts, privileged, BwrapExecutor)))
    else:
        print(f"bwrap: not usable here ({bwrap_status()[1]})")
    with AgentInterpreter(_proxy_manager(), max_output_chars=0) as it:
        print(f"warm runs on the {it.backend!r} backend")
        rows.append(("run_python print(1)", bench_run(it, args.runs)))
        rows.append(("CALL_API round trip", bench_call_api(it, args.runs)))
    failed = False
    print(f"{'measure':28} {'median ms':>10} {'p90 ms':>8} {'target':>8}")
    for name, samples in rows:
        median, p90 = _stats(samples)
        target = TARGETS_MS.get(name)
        ok = target is None or median <= target
        failed |= not ok
        print(f"{name:28} {median:10.3f} {p90:8.3f} {('<= %g' % target) if target else '':>8} {'' if ok else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
