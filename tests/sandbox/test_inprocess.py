"""The in-process backend swaps ``sys.stdout``/``sys.stderr`` while code runs (review session 7)."""

from __future__ import annotations

import sys
import threading

from lllm.sandbox import InProcessExecutor


def test_overlapping_runs_of_two_interpreters_give_the_host_its_streams_back():
    """Two agents on the in-process backend, in two threads: A starts, B starts, A ends, B ends. Afterwards
    the host's print() went to A's finished capture, silently, for the rest of the process."""
    host_out, host_err = sys.stdout, sys.stderr
    a, b = InProcessExecutor(), InProcessExecutor()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    a.namespace.update(a_in=a_in, b_in=b_in)
    b.namespace.update(b_in=b_in, a_out=a_out)
    results = {}

    def run_b() -> None:
        results["b"] = b.run("b_in.set()\nassert a_out.wait(10)\nprint('b')", timeout=20, api=None)

    t = threading.Thread(target=run_b)
    try:

        def start_b() -> None:
            t.start()

        a.namespace["start_b"] = start_b
        results["a"] = a.run("a_in.set()\nstart_b()\nassert b_in.wait(10)\nprint('a')", timeout=20, api=None)
        a_out.set()
        t.join(20)
        assert sys.stdout is host_out and sys.stderr is host_err, "the host's streams were left replaced"
    finally:
        a_out.set()
        sys.stdout, sys.stderr = host_out, host_err
    assert results["a"].status == "ok" and results["b"].status == "ok"
    both = results["a"].output + results["b"].output  # overlapping runs capture each other's output (documented)
    assert "a\n" in both and "b\n" in both, "a run's output went to the host instead of a capture"


def test_a_run_nested_in_another_gives_the_outer_run_its_capture_back():
    """A cell whose CALL_API runs another in-process interpreter (an agent behind a proxy): once the inner run
    ends, what the outer cell prints is still captured for the outer run, not lost or sent to the host."""
    host_out = sys.stdout
    inner = InProcessExecutor()

    def api(path, params):
        return inner.run("print('inner')", timeout=20, api=None).output

    outer = InProcessExecutor()
    result = outer.run("print('before')\nprint(CALL_API('x', {}).strip())\nprint('after')", timeout=20, api=api)
    assert result.output == "before\ninner\nafter\n"
    assert sys.stdout is host_out
