"""Every Python example in ``docs/**/*.md`` and ``README.md`` runs, offline, as a test.

Each example runs in a fresh Python process whose working directory is an empty temporary folder,
with no provider keys in the environment and ``$HOME``/``$LLLM_HOME`` inside that folder, under a
timeout. Markers in a fence's info string (``docs/contributing-docs.md`` explains them to authors):

- ```` ```python ````: run on its own.
- ```` ```python {test="continue"} ````: run after the previous example of the same page, in the same
  process (same globals, same working directory).
- ```` ```python {test="skip"} ````: cannot run offline (a real provider, a server); only compiled.
- ```` ```<lang> {file="path"} ````: not run; written to ``path`` in the working directory of the
  example that follows it (a file block always joins the next example), e.g. a package's ``lllm.toml``.

Shell blocks (``sh``) are never run. ``README.md`` reads as one script, so there every example continues the
one before it without a marker (except around ``skip`` blocks)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Dict, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
TIMEOUT_S = 90
PARALLEL = min(4, os.cpu_count() or 1) + 1
FENCE = re.compile(
    r"^(?P<indent> *)(?P<ticks>```+)(?P<info>[^\n]*)\n(?P<body>.*?)^(?P=indent)(?P=ticks) *$", re.M | re.S
)
ATTR = re.compile(r'(\w+)="([^"]*)"')
PYTHON = ("python", "py", "python3")
TEST_VALUES = (None, "continue", "skip")


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the first line of code
    lang: str
    source: str
    test: Optional[str] = None
    file: Optional[str] = None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


@dataclass
class Chain:
    blocks: List[Block] = field(default_factory=list)

    @property
    def id(self) -> str:
        first = next(b for b in self.blocks if b.file is None) if self.runs else self.blocks[0]
        return first.where

    @property
    def runs(self) -> bool:
        return any(b.file is None for b in self.blocks)


def parse(page: Path, text: str) -> List[Block]:
    """The Python blocks and file blocks of one page, in order; a bad marker raises ValueError."""
    blocks = []
    for m in FENCE.finditer(text):
        info = m.group("info").strip()
        lang = info.split("{")[0].strip().lower()
        attrs = dict(ATTR.findall(info[info.find("{") :] if "{" in info else ""))
        unknown = set(attrs) - {"test", "file"}
        line = text.count("\n", 0, m.start()) + 2
        if unknown or attrs.get("test") not in TEST_VALUES:
            raise ValueError(
                f'{page}:{line}: unknown fence marker in {info!r}: use test="continue"|"skip" or file="path"'
            )
        if "file" not in attrs and lang not in PYTHON:
            continue
        body = "\n".join(line_[len(m.group("indent")) :] for line_ in m.group("body").splitlines())
        blocks.append(Block(page, line, lang, body + "\n", attrs.get("test"), attrs.get("file")))
    return blocks


def chains(blocks: List[Block], one_script: bool = False) -> List[Chain]:
    """Group a page's blocks: a block joins the previous one's chain if it says ``continue`` or follows a
    file (or, with ``one_script``, unless either is marked ``skip``)."""
    out: List[Chain] = []
    for b in blocks:
        prev = out[-1].blocks[-1] if out else None
        if b.test == "continue" and (prev is None or prev.test == "skip"):
            raise ValueError(f'{b.where}: test="continue" needs a runnable example before it on the page')
        joins = b.test == "continue" or (one_script and "skip" not in (b.test, getattr(prev, "test", None)))
        if prev is not None and (joins or prev.file is not None):
            out[-1].blocks.append(b)
        else:
            out.append(Chain([b]))
    return out


def collect() -> List[Chain]:
    return [
        c
        for page in SOURCES
        for c in chains(parse(page, page.read_text(encoding="utf-8")), one_script=page.name == "README.md")
    ]


ALL = collect()
RUN = [c for c in ALL if c.runs and not any(b.test == "skip" for b in c.blocks)]
COMPILE_ONLY = [b for c in ALL for b in c.blocks if b.test == "skip"]

RUNNER = r"""
import ast, json, pathlib, sys
from _pytest.assertion.rewrite import rewrite_asserts  # failed asserts show their values, as in pytest
steps = json.loads(pathlib.Path(sys.argv[1]).read_text())
ns = {"__name__": "__main__"}
for s in steps:
    if "path" in s:
        p = pathlib.Path(s["path"]); p.parent.mkdir(parents=True, exist_ok=True); p.write_text(s["text"])
    else:
        src = "\n" * (s["line"] - 1) + s["source"]
        tree = ast.parse(src, s["where"])
        rewrite_asserts(tree, src.encode(), s["where"])
        exec(compile(tree, s["where"], "exec"), ns)
"""


def offline_env(home: Path) -> Dict[str, str]:
    """A minimal environment: no provider keys, no user config, the repository importable."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LLLM_HOME": str(home / ".lllm"),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
    }


def run_chain(chain: Chain, tmp_path: Path) -> Optional[str]:
    """Run one example (with its file blocks and continuations) in a fresh process; the error text or None."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir(), home.mkdir()
    steps = []
    for b in chain.blocks:
        if b.file is not None:
            steps.append({"path": b.file, "text": b.source})
        else:
            steps.append({"line": b.line, "source": b.source, "where": str(b.page.relative_to(ROOT))})
    (tmp_path / "steps.json").write_text(json.dumps(steps))
    try:
        out = subprocess.run(
            [sys.executable, "-c", RUNNER, str(tmp_path / "steps.json")],
            cwd=work,
            env=offline_env(home),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"did not finish within {TIMEOUT_S}s"
    return None if out.returncode == 0 else out.stderr[-4000:]


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Optional[str]]:
    """Every selected example, run a few at a time (most of an example's time is process start-up and
    waiting on its own subprocesses), keyed by example id."""
    selected = [
        item.callspec.params["chain"]
        for item in request.session.items
        if getattr(item, "callspec", None) is not None and "chain" in item.callspec.params
    ]
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {c.id: pool.submit(run_chain, c, tmp_path_factory.mktemp("example")) for c in selected}
    return {key: f.result() for key, f in futures.items()}


@pytest.mark.parametrize("chain", RUN, ids=[c.id for c in RUN])
def test_example_runs(chain: Chain, outcomes: Dict[str, Optional[str]]) -> None:
    error = outcomes[chain.id]
    assert error is None, f"example {chain.id} failed:\n{error}"


@pytest.mark.parametrize("block", COMPILE_ONLY, ids=[b.where for b in COMPILE_ONLY])
def test_skipped_example_compiles(block: Block) -> None:
    compile("\n" * (block.line - 1) + block.source, str(block.page), "exec")


def test_file_blocks_stay_inside_the_working_directory() -> None:
    for c in ALL:
        for b in c.blocks:
            if b.file is not None:
                p = PurePosixPath(b.file)
                assert not p.is_absolute() and ".." not in p.parts, f"{b.where}: file={b.file!r} must be relative"
                assert c.runs, f"{b.where}: file block with no example after it"


def test_collector_reads_markers(tmp_path: Path) -> None:
    page = ROOT / "docs" / "x.md"
    text = (
        '```python\na = 1\n```\n\n```toml {file="p/lllm.toml"}\n[package]\n```\n'
        '```python {test="continue"}\nb = 2\n```\n```python {test="skip"}\nc\n```\n```sh\nls\n```\n'
    )
    got = chains(parse(page, text))
    assert [[(b.line, b.test, b.file) for b in c.blocks] for c in got] == [
        [(2, None, None)],
        [(6, None, "p/lllm.toml"), (9, "continue", None)],
        [(12, "skip", None)],
    ]
    readme = chains(
        parse(page, '```python\na = 1\n```\n```python\nb = a\n```\n```python {test="skip"}\nc\n```\n'), one_script=True
    )
    assert [[b.line for b in c.blocks] for c in readme] == [[2, 5], [8]]
    with pytest.raises(ValueError, match="unknown fence marker"):
        parse(page, '```python {test="skp"}\nx\n```\n')


def test_every_page_has_examples_and_the_readme_is_covered() -> None:
    pages = {b.page for c in ALL for b in c.blocks}
    assert ROOT / "README.md" in pages
    assert len(RUN) >= 20
