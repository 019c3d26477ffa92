"""What the model reads when output or an error is long (review session 7)."""

from __future__ import annotations

import sys

import pytest

from lllm.sandbox import AgentInterpreter, bwrap_status, clip_output

BWRAP_OK, BWRAP_WHY = bwrap_status()
BACKENDS = [
    "inprocess",
    pytest.param("subprocess", marks=pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")),
    pytest.param("bwrap", marks=pytest.mark.skipif(not BWRAP_OK, reason=f"bubblewrap is not usable: {BWRAP_WHY}")),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size", [6_000, 50_000])
def test_an_exception_with_a_long_message_still_names_its_type(backend, size):
    """The end of a traceback is kept when it must be cut; with a long message that end is only message
    text, and the model no longer learned which exception its code raised (nor where)."""
    with AgentInterpreter(backend=backend, timeout=30) as interp:
        out = interp.run(f"def load():\n    raise ValueError('bad rows: ' + 'y' * {size})\nprint('start')\nload()")
    assert out.startswith("start\n") and len(out) <= 5000 + len("... (truncated)\n")
    assert "ValueError: bad rows: yyy" in out


def test_clip_output_with_a_limit_of_one_character_still_cuts():
    out = clip_output("o" * 1000, "Traceback\nE: " + "e" * 100, False, 1, "[cut]")
    assert len(out) < 200


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("timeout", [1e7, 1e12, float("inf")])
def test_a_very_long_timeout_runs_code(backend, timeout):
    """A timeout meant as "practically none" (a week and more, ``.inf`` in YAML) made every run raise
    OverflowError ("timeout is too large", "cannot convert float infinity to integer") in the host."""
    with AgentInterpreter(backend=backend, timeout=timeout) as interp:
        assert interp.run("print(6 * 7)") == "42\n"
        assert interp.run("print(6 * 7)") == "42\n"


def test_a_nan_timeout_is_refused_at_once():
    from lllm.errors import ConfigError
    from lllm.proxies import proxy_settings

    with pytest.raises(ValueError, match="timeout"):
        AgentInterpreter(backend="inprocess", timeout=float("nan"))
    with pytest.raises(ConfigError, match="timeout"):
        proxy_settings({"timeout": float("nan")})


@pytest.mark.parametrize("backend", BACKENDS)
def test_stdout_supports_what_code_commonly_uses_on_it(backend):
    """``sys.stdout.reconfigure(encoding="utf-8")`` (a line models often start with), ``sys.stdout.buffer``
    and ``sys.stdout.closed`` raised ``AttributeError: 'Capture' object has no attribute ...``."""
    code = (
        "import sys\n"
        "sys.stdout.reconfigure(encoding='utf-8')\n"
        "sys.stderr.reconfigure(errors='replace')\n"
        "print('caf\\u00e9')\n"
        "sys.stdout.buffer.write('\\u00fcber\\n'.encode('utf-8'))\n"
        "sys.stdout.buffer.flush()\n"
        "print(sys.stdout.closed, sys.stderr.closed)\n"
    )
    with AgentInterpreter(backend=backend, timeout=30) as interp:
        assert interp.run(code) == "caf\u00e9\n\u00fcber\nFalse False\n"
        flood = interp.run("import sys\nfor _ in range(3000):\n    sys.stdout.buffer.write(b'x' * 1000)")
        assert flood.endswith("... (truncated)") and len(flood) < 6000  # the output cap holds for bytes too


@pytest.mark.skipif(sys.platform != "linux", reason="Linux sandboxes")
def test_a_worker_that_sends_a_deeply_nested_frame_is_a_protocol_crash_not_a_host_exception():
    """Code in the worker can write to the control channel; a frame nesting 200 000 arrays made ``run``
    raise RecursionError in the host instead of reporting a worker that broke the protocol."""
    code = (
        "import os\nw = CALL_API.__self__\nbody = b'[' * 200000 + b']' * 200000\n"
        "os.write(w.ctl_out, len(body).to_bytes(4, 'big') + body)\nimport time\ntime.sleep(5)"
    )
    with AgentInterpreter(backend="subprocess", timeout=30) as interp:
        result = interp.execute(code)
        assert result.status == "crashed" and "protocol" in result.detail
        assert interp.run("print('fresh')") == "fresh\n"


@pytest.mark.skipif(sys.platform != "linux", reason="Linux sandboxes")
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "inprocess"])
def test_the_cpu_backstop_leaves_every_core_the_whole_timeout(backend):
    """RLIMIT_CPU is the worker's CPU seconds over all its threads; set to about ``timeout`` seconds, it
    killed (SIGXCPU) multi-threaded code (BLAS, pools of threads) after ``timeout / cores`` seconds of wall
    time, long before the run's timeout: the backstop must sit above what all cores can use meanwhile."""
    code = (
        "import os, resource\n"
        "r = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print(resource.getrlimit(resource.RLIMIT_CPU)[0], r.ru_utime + r.ru_stime, len(os.sched_getaffinity(0)))"
    )
    with AgentInterpreter(backend=backend, timeout=30) as interp:
        soft, used, cores = interp.run(code).split()
    assert int(soft) >= float(used) + 30 * int(cores)
