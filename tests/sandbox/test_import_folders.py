"""An editable install of the agent's own project makes the project root an import folder (review session 7).

Hatchling, PDM, flit and setuptools' compat mode install a project in editable mode with a ``.pth`` file
naming its folder. That folder is then on the worker's ``sys.path`` and is made readable inside the sandbox
(bound into ``bwrap``; mounted for the sandbox uid of the root ``subprocess`` backend), and with it the
project's ``.env``: the provider keys the sandbox exists to keep away from the model's code."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lllm.sandbox import AgentInterpreter, BwrapExecutor, SubprocessExecutor, bwrap_status
from lllm.sandbox.isolation import can_drop_privileges

BWRAP_OK, BWRAP_WHY = bwrap_status()
BACKENDS = [
    pytest.param(
        "subprocess",
        marks=pytest.mark.skipif(
            not can_drop_privileges(), reason="only a root parent keeps its files from the worker (own uid)"
        ),
    ),
    pytest.param("bwrap", marks=pytest.mark.skipif(not BWRAP_OK, reason=f"bubblewrap is not usable: {BWRAP_WHY}")),
]
SECRET = "sk-from-the-project-dotenv-0123"


@pytest.mark.skipif(sys.platform != "linux", reason="Linux sandboxes")
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_dotenv_of_an_editable_project_stays_out_of_the_sandbox(tmp_path, backend):
    home = tmp_path / "home"
    project = home / "project"
    (project / "mypkg").mkdir(parents=True)
    (project / "mypkg" / "__init__.py").write_text("VALUE = 'the project imports'\n")
    (project / ".env").write_text(f"OPENAI_API_KEY={SECRET}\n")
    (project / ".env.production").write_text(f"OPENAI_API_KEY={SECRET}\n")
    (project / ".git").mkdir()
    (project / ".git" / "config").write_text(f"[http]\n\textraheader = Authorization: Bearer {SECRET}\n")
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "_mypkg.pth").write_text(f"{project}\n")  # what an editable install of a flat layout writes
    home.chmod(0o700)
    cls = SubprocessExecutor if backend == "subprocess" else BwrapExecutor
    with AgentInterpreter(backend=cls(python=str(venv / "bin" / "python")), timeout=30) as it:
        out = it.run(
            "import os, sys, mypkg\nprint(mypkg.VALUE)\n"
            "for name in ('.env', '.env.production', '.git/config'):\n"
            "    for folder in sys.path:\n"
            "        path = os.path.join(folder, name)\n"
            "        if os.path.isfile(path):\n"
            "            try:\n"
            "                print(path, repr(open(path).read()))\n"
            "            except OSError as e:\n"
            "                print(path, type(e).__name__)\n"
        )
    assert out.startswith("the project imports\n"), out
    assert SECRET not in out
