"""AgentInterpreter (§8.2): run_python semantics on both backends — persistent namespace, CALL_API,
output capture and truncation, tracebacks without framework frames, reset."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from lllm.sandbox import AgentInterpreter, InProcessExecutor, SubprocessExecutor, bwrap_status
from lllm.sandbox.interpreter import NO_OUTPUT

BACKENDS = [
    "subprocess",
    "inprocess",
    pytest.param(
        "bwrap",
        marks=pytest.mark.skipif(not bwrap_status()[0], reason=f"bubblewrap is not usable here: {bwrap_status()[1]}"),
    ),
]


class QuotaExceeded(Exception):
    pass


def api(path, params):
    if path == "quota":
        raise QuotaExceeded("100 calls per day")
    if path == "echo":
        return {"path": path, "params": params}
    if path == "date":
        return {"when": dt.date(2024, 5, 1), "items": (1, 2)}
    if path == "object":
        return object()
    if path == "missing":
        raise KeyError("Proxy 'missing' not found. Available proxies: ['echo']")
    if path == "required":
        raise ValueError("Endpoint 'x/y' is missing required parameter(s) ['q']")
    raise ConnectionError("backend down")


@pytest.fixture
def make():
    made = []

    def factory(backend="subprocess", pm=api, **kw):
        it = AgentInterpreter(pm, backend=backend, **kw)
        made.append(it)
        return it

    yield factory
    for it in made:
        it.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_namespace_persists_and_last_expression_is_not_echoed(make, backend):
    it = make(backend)
    assert it.run("x = 21\nx * 2") == NO_OUTPUT
    assert it.run("print(x * 2)") == "42\n"
    assert it.run("def f(n):\n    return n + x\nimport math") == NO_OUTPUT
    assert it.run("print(f(1), math.sqrt(16))") == "22 4.0\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_stdout_and_stderr_are_captured_in_order(make, backend):
    out = make(backend).run(
        "import sys\nprint('a')\nprint('b', file=sys.stderr)\nsys.stdout.write('c\\n')\nsys.stderr.write('d\\n')"
    )
    assert out == "a\nb\nc\nd\n"


def test_subprocess_output_of_child_processes_is_captured_in_order(make):
    out = make().run(
        "import os, sys\nprint('before', flush=True)\nos.system('echo from-shell; echo err >&2')\nprint('after')"
    )
    assert out == "before\nfrom-shell\nerr\nafter\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_call_api_results_are_json_with_str_fallback(make, backend):
    it = make(backend)
    assert (
        it.run("r = CALL_API('echo', {'q': 'dune'}, limit=2)\nprint(r)")
        == "{'path': 'echo', 'params': {'q': 'dune', 'limit': 2}}\n"
    )
    assert it.run("print(CALL_API('date'))") == "{'when': '2024-05-01', 'items': [1, 2]}\n"
    assert it.run("print(CALL_API('object')[:9])") == "<object o\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_call_api_errors_raise_typed_exceptions_in_user_code(make, backend):
    it = make(backend)
    code = (
        "for p in ['missing', 'required', 'other', 'quota']:\n"
        "    try:\n        CALL_API(p, {})\n"
        "    except Exception as e:\n        print(type(e).__name__, '|', e)"
    )
    assert it.run(code) == (
        "KeyError | \"Proxy 'missing' not found. Available proxies: ['echo']\"\n"
        "ValueError | Endpoint 'x/y' is missing required parameter(s) ['q']\n"
        "ConnectionError | backend down\n"
        "RuntimeError | QuotaExceeded: 100 calls per day\n"
    )
    out = it.run("CALL_API('missing')")
    assert out.startswith('Traceback (most recent call last):\n  File "<cell 2>", line 1, in <module>')
    assert "KeyError" in out and "worker.py" not in out and "inprocess_backend" not in out


@pytest.mark.parametrize("backend", BACKENDS)
def test_call_api_without_proxies(make, backend):
    out = make(backend, pm=None).run("CALL_API('x/y', {})")
    assert out.rstrip().endswith("RuntimeError: CALL_API is not available: no proxies are active")


@pytest.mark.parametrize("backend", BACKENDS)
def test_tracebacks_show_user_frames_only(make, backend):
    it = make(backend)
    it.run("def inner():\n    raise ValueError('boom')")
    out = it.run("print('partial')\ninner()")
    out = re.sub(r"(?m)^ *[~^]+\n", "", out)  # Python 3.13 marks the call under its line: not what is tested
    assert out == (
        "partial\nTraceback (most recent call last):\n"
        '  File "<cell 2>", line 2, in <module>\n    inner()\n'
        "  File \"<cell 1>\", line 2, in inner\n    raise ValueError('boom')\n"
        "ValueError: boom\n"
    )
    assert it.run("print(1").startswith('  File "<cell 3>", line 1')
    assert "SyntaxError" in it.run("print(1")
    assert it.run("raise SystemExit(2)").endswith("SystemExit: 2\n")
    assert it.run("print('still alive')") == "still alive\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_output_is_cut_at_max_output_chars_with_the_indicator(make, backend):
    it = make(backend, max_output_chars=50, truncation_indicator="[cut]")
    assert it.run("print('x' * 49)") == "x" * 49 + "\n"
    assert it.run("print('y' * 200)") == "y" * 50 + "[cut]"
    flood = it.run("for i in range(200000):\n    print(i)")
    assert flood.startswith("0\n1\n2\n") and flood.endswith("[cut]") and len(flood) == 55


@pytest.mark.parametrize("backend", BACKENDS)
def test_traceback_survives_truncation(make, backend):
    it = make(backend, max_output_chars=200)
    out = it.run("print('z' * 5000)\nraise LookupError('the real problem')")
    assert len(out) <= 200 + len("... (truncated)") + 1
    assert "... (truncated)" in out and out.endswith("LookupError: the real problem\n")


def test_max_output_chars_zero_means_no_limit(make):
    assert len(make(max_output_chars=0).run("print('q' * 100000)")) == 100001


@pytest.mark.parametrize("backend", BACKENDS)
def test_reset_clears_state(make, backend):
    it = make(backend)
    it.run("kept = 1")
    it.reset()
    assert "NameError" in it.run("print(kept)")


def test_close_then_run_starts_a_new_worker(make):
    it = make()
    it.run("a = 1")
    first = it.executor.pid
    it.close()
    assert it.executor.pid is None
    assert "NameError" in it.run("a")
    assert it.executor.pid not in (None, first)


def test_inprocess_namespace_is_exposed_and_subprocess_is_not(make):
    it = make("inprocess")
    it.run("v = [1, 2]")
    assert it.namespace["v"] == [1, 2]
    with pytest.raises(AttributeError, match="only the 'inprocess' backend"):
        _ = make("subprocess").namespace


def test_inprocess_timeout_is_reported_honestly(make):
    it = make("inprocess", timeout=0.3)
    it.run("x = 1")
    out = it.run("import time\ntime.sleep(1.5)")
    assert out == (
        "Error: execution exceeded 0.3s; the in-process backend cannot stop running code; "
        "it may still be running in the background; interpreter state was reset."
    )
    assert "NameError" in it.run("x")


def test_backend_instances_and_validation(make):
    ex = InProcessExecutor()
    assert make(ex).executor is ex and make(ex).backend == "InProcessExecutor"
    assert isinstance(make().executor, SubprocessExecutor)
    assert make(max_memory_mb=0).executor.max_memory_mb == 0
    assert make().executor.max_memory_mb == 1024
    with pytest.raises(ValueError, match="unknown interpreter backend"):
        AgentInterpreter(api, backend="docker")
    with pytest.raises(ValueError, match="max_output_chars"):
        AgentInterpreter(api, max_output_chars=-1)
    with pytest.raises(ValueError, match="timeout"):
        AgentInterpreter(api, timeout=0)
    with pytest.raises(TypeError, match="pm must be"):
        AgentInterpreter(42)


def test_context_manager_closes_the_worker():
    with AgentInterpreter(api) as it:
        assert it.run("print(2)") == "2\n"
        assert it.executor.pid is not None
    assert it.executor.pid is None


def test_unicode_and_large_code_round_trip(make):
    it = make()
    code = "s = " + repr("héllo ✓ " * 20000) + "\nprint(len(s), s[:7])"
    assert it.run(code) == "160000 héllo ✓\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_result_json_cannot_hold_comes_back_as_its_str(make, backend):
    cyclic = []
    cyclic.append(cyclic)
    answers = {"tuple-keys": {(1, 2): "pair"}, "cycle": cyclic}
    it = make(backend, pm=lambda path, params: answers[path])
    assert it.run("print(repr(CALL_API('tuple-keys')))") == "\"{(1, 2): 'pair'}\"\n"
    assert it.run("print(CALL_API('cycle'))") == "[[...]]\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_traceback_that_fits_is_not_cut(make, backend):
    it = make(backend, max_output_chars=5000)
    out = it.run("raise ValueError('details ' * 400)")
    assert 2500 < len(out) < 5000 and "truncated" not in out and out.startswith("Traceback (most recent call last)")
