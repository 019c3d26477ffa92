"""`lllm serve` as a real process: the offline notice (once), a call over HTTP, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

from serve_support import ROOT


def test_serve_a_package_folder_then_stop_on_sigterm(package_dir, tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "LLLM_HOME": str(tmp_path / "h")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lllm.cli",
            "serve",
            str(package_dir),
            "--port",
            "0",
            "--store",
            str(tmp_path / "s.db"),
            "--tactic",
            "echo",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("lllm serve: 'svc' (echo) at http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split(" at ")[1].split()[0]
        req = urllib.request.Request(
            url + "/tactics/echo/invoke",
            data=b'{"topic": "hi", "n": 2}',
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            body = json.loads(r.read())
        assert body["result"] == {"summary": "hihi", "count": 2} and body["session_id"]
        with urllib.request.urlopen(url + "/tactics", timeout=30) as r:
            assert [t["name"] for t in json.loads(r.read())["tactics"]] == ["echo"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "lllm serve: stopped" in err
    assert err.count("running offline on LLLM's deterministic test model (model='test')") == 1  # said once


def test_unknown_package_or_tactic_is_an_error(package_dir, tmp_path, capsys):
    from lllm.cli import main

    assert main(["serve", str(tmp_path / "nowhere")]) == 1
    assert "No package folder or loaded package" in capsys.readouterr().err
    assert main(["serve", str(package_dir), "--tactic", "nope", "--no-save"]) == 1
    assert "has no tactic ['nope']" in capsys.readouterr().err
