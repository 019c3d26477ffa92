"""Session 7 review (c): the "N call(s) still running ... were cancelled" warning of a shutdown never showed
in `lllm serve` (the library logger has only a NullHandler)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from serve_support import ROOT


def _post(url: str, body: object) -> None:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        urllib.request.urlopen(req, timeout=60).read()
    except (urllib.error.URLError, OSError):
        pass  # the call is cut off by the shutdown


def test_serve_says_on_stderr_how_many_calls_a_shutdown_cut_off(package_dir, tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "LLLM_HOME": str(tmp_path / "h")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lllm.cli", "serve", str(package_dir), "--port", "0", "--no-save", "--drain", "0.2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    caller = None
    try:
        line = proc.stdout.readline()
        assert line.startswith("lllm serve: 'svc'"), line + proc.stderr.read()
        url = line.split(" at ")[1].split()[0]
        caller = threading.Thread(target=_post, args=(url + "/tactics/slow/invoke", 30), daemon=True)
        caller.start()
        for _ in range(1000):
            with urllib.request.urlopen(url + "/healthz", timeout=30) as r:
                if json.loads(r.read())["in_flight"] >= 1:
                    break
            time.sleep(0.01)
        else:
            raise AssertionError("the slow call never started")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        if caller is not None:
            caller.join(30)
    assert proc.returncode == 0, err
    assert "lllm serve: 1 call(s) still running after 0.2s were cancelled" in err
    assert err.index("were cancelled") < err.index("lllm serve: stopped")
