"""Starts the benchmark's fake OpenAI-compatible server (a real aiohttp server) in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Dict, Tuple

FAKE_SERVER = Path(__file__).resolve().parents[2] / "benchmarks" / "fake_openai_server.py"


class FakeServers:
    """Starts ``fake_openai_server.py`` once per distinct argument list; stops all on ``close()``."""

    def __init__(self) -> None:
        self._procs: Dict[Tuple[str, ...], Tuple[subprocess.Popen, str]] = {}

    def __call__(self, *args: str) -> str:
        """The base URL (``http://127.0.0.1:PORT/v1``) of a server started with ``args``."""
        if args not in self._procs:
            proc = subprocess.Popen(
                [sys.executable, str(FAKE_SERVER), "--port", "0", "--no-uvloop", *args],
                stdout=subprocess.PIPE,
                text=True,
            )
            line = proc.stdout.readline()  # "LISTENING http://127.0.0.1:PORT/v1"
            if not line.startswith("LISTENING"):
                proc.kill()
                raise RuntimeError(f"fake server did not start: {line!r}")
            self._procs[args] = (proc, line.split()[1])
        return self._procs[args][1]

    @staticmethod
    def stats(base_url: str, reset: bool = False) -> dict:
        root = base_url.rsplit("/v1", 1)[0]
        if reset:
            urllib.request.urlopen(urllib.request.Request(root + "/stats/reset", method="POST"), timeout=5).read()
            return {}
        with urllib.request.urlopen(root + "/stats", timeout=5) as r:
            return json.loads(r.read())

    def close(self) -> None:
        for proc, _ in self._procs.values():
            proc.terminate()
        for proc, _ in self._procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
            proc.stdout.close()
