"""The worker runs cells in the globals of ``__main__`` (review session 7), as ``python script.py`` and
Jupyter do. The cell's namespace was a dict of its own, so what a cell defined could not be found as
``__main__.<name>``: pickling a class or function of the cell, ``multiprocessing.Pool`` over a function of
the cell, and ``typing.get_type_hints`` with a forward reference all failed."""

from __future__ import annotations

import sys

import pytest

from lllm.sandbox import AgentInterpreter, bwrap_status

BWRAP_OK, BWRAP_WHY = bwrap_status()
BACKENDS = [
    pytest.param("subprocess", marks=pytest.mark.skipif(sys.platform != "linux", reason="Linux sandboxes")),
    pytest.param("bwrap", marks=pytest.mark.skipif(not BWRAP_OK, reason=f"bubblewrap is not usable: {BWRAP_WHY}")),
]

CELLS = {
    "pickle": (
        "import pickle\nfrom dataclasses import dataclass\n@dataclass\nclass Point:\n    x: int\n"
        "print(pickle.loads(pickle.dumps(Point(3))))",
        "Point(x=3)\n",
    ),
    "pool": (
        "from multiprocessing import Pool\ndef square(x):\n    return x * x\n"
        "with Pool(2) as pool:\n    print(pool.map(square, [1, 2, 3]))",
        "[1, 4, 9]\n",
    ),
    "type_hints": (
        "from typing import Optional, get_type_hints\nclass Node:\n    nxt: 'Optional[Node]'\n"
        "print(get_type_hints(Node)['nxt'] == Optional[Node])",
        "True\n",
    ),
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_what_a_cell_defines_is_found_in_main(backend):
    with AgentInterpreter(backend=backend, timeout=60) as interp:
        for name, (code, expected) in CELLS.items():
            assert interp.run(code) == expected, name
        assert interp.run("import __main__\nprint(__main__.Point(1), __name__, CALL_API.__name__)") == (
            "Point(x=1) __main__ call_api\n"
        )
        interp.reset()
        assert "NameError" in interp.run("print(Point)")


@pytest.mark.parametrize("backend", BACKENDS)
def test_call_api_from_a_forked_child_says_to_use_threads(backend):
    """Forked children (multiprocessing.Pool) share the worker's control channel: their CALL_API requests
    and replies crossed, so calls got each other's data, or the worker broke the protocol."""
    code = (
        "from multiprocessing import Pool\n"
        "def get(i):\n    return CALL_API('echo', {'i': i})['i']\n"
        "with Pool(4) as pool:\n    print(pool.map(get, range(40)))"
    )
    with AgentInterpreter(lambda path, params: {"i": params["i"]}, backend=backend, timeout=60) as interp:
        out = interp.run(code)
        assert "RuntimeError" in out and "child process" in out and "thread" in out, out
        threads = (
            "from concurrent.futures import ThreadPoolExecutor\n"
            "with ThreadPoolExecutor(4) as ex:\n    print(list(ex.map(get, range(40))) == list(range(40)))"
        )
        assert interp.run(threads) == "True\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_getpass_getuser_works_in_the_sandbox(backend):
    """The sandbox uid has no passwd entry and the environment named no user, so ``getpass.getuser()``
    (which libraries call for cache folders) raised ``KeyError: 'getpwuid(): uid not found'``."""
    with AgentInterpreter(backend=backend, timeout=30) as interp:
        assert interp.run("import getpass\nprint(getpass.getuser())") == "sandbox\n"
