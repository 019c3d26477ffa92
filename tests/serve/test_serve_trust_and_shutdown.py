"""`lllm serve` review (session 7b): the trust list, credentials offered together, and Ctrl-C while a call is stuck."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from serve_support import ROOT, served
from support.pkgtree import write_tree

from lllm.serve.app import create_app

MARK = """
    from pathlib import Path

    Path(__file__).resolve().parents[2].joinpath(Path(__file__).resolve().parents[1].name + ".ran").write_text("ran")
"""


def _env(tmp_path: Path, **extra: str) -> dict:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "LLLM_HOME": str(tmp_path / "h"),
        **extra,
    }


def _serve(tmp_path: Path, package: Path, env: dict, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "lllm.cli", "serve", str(package), "--port", "0", "--no-save", *extra]
    return subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serve_path_refuses_a_package_the_trust_list_leaves_out(tmp_path):
    write_tree(tmp_path / "pkgs", {"shady/lllm.toml": '[package]\nname = "shady"\n', "shady/tools/t.py": MARK})
    proc = _serve(tmp_path, tmp_path / "pkgs/shady", _env(tmp_path, LLLM_TRUSTED_PACKAGES="someone_else"))
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1, out + err
    assert "package 'shady' is not in LLLM_TRUSTED_PACKAGES" in err
    assert not (tmp_path / "pkgs/shady.ran").exists()  # its code never ran


def test_serve_path_skips_an_untrusted_dependency_of_a_trusted_package(tmp_path):
    write_tree(
        tmp_path / "pkgs",
        {
            "good/lllm.toml": '[package]\nname = "good"\n[dependencies]\npackages = ["../shady"]\n',
            "good/tactics/t.py": """
                from lllm import Tactic


                class Hi(Tactic):
                    name = "hi"

                    def call(self, task):
                        return "hi"
            """,
            "shady/lllm.toml": '[package]\nname = "shady"\n',
            "shady/tools/t.py": MARK,
        },
    )
    proc = _serve(tmp_path, tmp_path / "pkgs/good", _env(tmp_path, LLLM_TRUSTED_PACKAGES="good"), "--tactic", "nope")
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1 and "Package 'good' has no tactic ['nope']" in err, out + err  # 'good' loaded
    assert "package 'shady' is not in LLLM_TRUSTED_PACKAGES; not loaded" in err
    assert not (tmp_path / "pkgs/shady.ran").exists()


def test_a_proxys_basic_authorization_does_not_hide_the_x_lllm_token(package_dir, start):
    s = start(create_app(served(package_dir), token="tok-0123456789"))
    both = {"Authorization": "Basic dXNlcjpwYXNz", "X-LLLM-Token": "tok-0123456789"}
    status, body = s.json("POST", "/tactics/echo/invoke", {"topic": "a"}, headers=both)
    assert status == 200 and body["result"]["summary"] == "a"
    assert s.json("GET", "/tactics", headers={**both, "Authorization": "Bearer wrong"})[0] == 200
    assert s.json("GET", "/tactics", headers={**both, "X-LLLM-Token": "wrong"})[0] == 401
    assert s.json("GET", "/tactics", headers={"Authorization": "Basic dXNlcjpwYXNz"})[0] == 401


STUCK = {
    "stuck/lllm.toml": '[package]\nname = "stuck"\n',
    "stuck/tactics/t.py": """
        import time

        from lllm import Tactic


        class Stuck(Tactic):
            name = "stuck"

            def call(self, task):
                time.sleep(float(task))  # a sync call that will not end soon (a hung socket, a lock)
                return "woke"
    """,
}


def _post_in_background(url: str, body: bytes) -> threading.Thread:
    def post() -> None:
        req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        with contextlib.suppress(OSError):  # cut off at shutdown
            urllib.request.urlopen(req, timeout=60).read()

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread


def _in_flight(url: str) -> int:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as r:
        return int(json.loads(r.read())["in_flight"])


def test_ctrl_c_stops_the_server_within_the_drain_while_a_sync_call_is_stuck(tmp_path):
    write_tree(tmp_path / "pkgs", STUCK)
    proc = _serve(tmp_path, tmp_path / "pkgs/stuck", _env(tmp_path), "--drain", "0.5")
    try:
        line = proc.stdout.readline()
        assert " at http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split(" at ")[1].split()[0]
        _post_in_background(url + "/tactics/stuck/invoke", b'"600"')
        deadline = time.monotonic() + 30
        while _in_flight(url) < 1:
            assert time.monotonic() < deadline, "the call never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("lllm serve did not stop after Ctrl-C while a sync call was stuck") from None
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0, err
    assert "lllm serve: stopped" in err


CHATTY = {
    "chatty/lllm.toml": '[package]\nname = "chatty"\n',
    "chatty/tactics/t.py": """
        from lllm import Tactic

        print("chatty is loading")


        class Chatty(Tactic):
            name = "chatty"

            def call(self, task):
                print("chatty is thinking about", task, end=" ... ", flush=True)  # no newline
                return f"said {task}"
    """,
}


async def test_mcp_over_stdio_keeps_a_tactics_prints_out_of_the_protocol(tmp_path):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    write_tree(tmp_path / "pkgs", CHATTY)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "lllm.cli", "serve", str(tmp_path / "pkgs/chatty"), "--mcp-stdio", "--no-save"],
        env=_env(tmp_path),
        cwd=str(tmp_path),
    )
    with open(tmp_path / "err.txt", "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await asyncio.wait_for(session.initialize(), 30)
                result = await asyncio.wait_for(session.call_tool("chatty", {"task": "hi"}), 30)
                assert not result.isError and result.content[0].text == "said hi"
                again = await asyncio.wait_for(session.call_tool("chatty", {"task": "ho"}), 30)
                assert again.content[0].text == "said ho"
    err = (tmp_path / "err.txt").read_text()
    assert "chatty is loading" in err and "chatty is thinking about hi ... " in err  # the prints, on stderr
