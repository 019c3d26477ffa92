"""`lllm ui` test support: a project whose tactic runs on the offline test model, sessions recorded by the real
`lllm batch`, and the real `lllm ui` server in a subprocess on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from support.duo_project import CONFIG, TOOLS as TOOL

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

TACTIC = """
from lllm import Tactic

class Duo(Tactic):
    name = "duo"
    agent_group = ["drafter", "editor"]

    def call(self, task: str) -> str:
        if "explode" in task:
            raise ValueError("asked to explode")
        d, e = self.agents["drafter"], self.agents["editor"]
        d.open("main")
        d.receive(task)
        draft = d.respond()
        e.open("main")
        e.receive_prompt("demo.prompts:review", {"draft": draft.content})  # a package prompt, by key
        return e.respond().content
"""

REVIEW = "Edit this draft:\n\n{draft}\n"

TASKS = [
    "plan a trip to Kyoto",
    "write <b>bold</b> </script><script>window.pwned=1</script> text",
    "explain ```python\nprint('hi')\n``` please",
    "explode now",
]


def write_project(root: Path) -> Path:
    for rel, text in {
        "lllm.toml": '[package]\nname = "demo"\n',
        "tactics/duo.py": TACTIC,
        "tools/shout.py": TOOL,
        "configs/default.yaml": CONFIG,
        "prompts/review.md": REVIEW,
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def lllm(cwd: Path, *args: str, ok: Optional[bool] = True) -> subprocess.CompletedProcess:
    """The real `lllm` command in ``cwd`` (no provider keys: the tactic runs on the offline test model)."""
    proc = subprocess.run(
        [sys.executable, "-m", "lllm.cli", *args],
        cwd=cwd,
        env=child_env(cwd),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok is not None:
        assert (proc.returncode == 0) == ok, proc.stderr
    return proc


def child_env(cwd: Path, **extra: str) -> Dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k not in ("LLLM_STORE", "LLLM_UI_TOKEN")
    }
    env.update(LLLM_HOME=str(cwd / ".home"), PYTHONPATH=str(ROOT), **extra)
    return env


def record_batch(project: Path, batch_id: str, tasks: List[str]) -> None:
    (project / f"{batch_id}.txt").write_text("\n".join(json.dumps(t) for t in tasks) + "\n")
    lllm(
        project,
        "batch",
        "demo.tactics:duo",
        f"{batch_id}.txt",
        "--batch-id",
        batch_id,
        "--store",
        "sessions.db",
        "--workers",
        "1",
        ok=None,
    )


class UIServer:
    """`lllm ui` in a subprocess; ``url`` is what it printed."""

    def __init__(self, project: Path, *args: str, token: Optional[str] = None):
        env = child_env(project, **({"LLLM_UI_TOKEN": token} if token else {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lllm.cli", "ui", "--store", "sessions.db", "--port", "0", "--poll", "0.2", *args],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Ctrl-C reaches it as in a terminal, even when these tests run from a background job (which
            # starts with SIGINT ignored, and a child keeps an ignored signal across exec)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"(http://\S+/)", line)
        if not match:
            self.proc.kill()
            raise AssertionError(
                f"lllm ui did not start: {line!r} {self.proc.stderr.read() if self.proc.stderr else ''}"
            )
        self.url = match.group(1)
        self.token = token

    def get(self, path: str, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Any]:
        return self.request("GET", path, None, headers)

    def post(self, path: str, body: Any, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Any]:
        return self.request(
            "POST", path, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
        )

    def request(
        self, method: str, path: str, data: Optional[bytes], headers: Optional[Dict[str, str]]
    ) -> Tuple[int, Any]:
        req = urllib.request.Request(self.url + path.lstrip("/"), data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, raw, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, raw, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
        return status, json.loads(raw) if "json" in ctype else raw.decode()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with four recorded sessions of batch ``b1`` (one failed)."""
    root = write_project(tmp_path_factory.mktemp("ui-project"))
    record_batch(root, "b1", TASKS)
    return root


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[UIServer]:
    ui = UIServer(project)
    yield ui
    ui.close()


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser); skips, saying why, without it."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's 'chromium' package (.ci/install-system.sh does)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
    )
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    errors: List[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    context.close()
    assert not errors, errors
