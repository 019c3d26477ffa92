"""The documentation site builds with ``mkdocs build --strict``: no broken link, nav entry or API reference."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEEDED = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")


def _missing() -> list:
    out = []
    for m in NEEDED:
        try:
            if importlib.util.find_spec(m) is None:
                out.append(m)
        except ModuleNotFoundError:
            out.append(m)
    return out


@pytest.mark.skipif(
    bool(_missing()), reason=f"the docs toolchain is not installed ({', '.join(_missing())}): pip install -e '.[docs]'"
)
@pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="the site is built on Python 3.11+: the newest mkdocstrings for 3.10 breaks on the pymdown-extensions "
    "pip picks there (Highlight() without md); the examples still run on 3.10 (test_examples.py)",
)
def test_site_builds_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    pages = {p: p.read_text() for p in (tmp_path / "site").rglob("*.html")}
    leaked = [str(p) for p, html in pages.items() if "test=&quot;" in html and "contributing-docs" not in str(p)]
    assert not leaked, f"test markers of code fences shown on {leaked}"  # docs/hooks/fences.py strips them
    assert "travel/lllm.toml" in pages[tmp_path / "site" / "packages" / "index.html"]  # a file block's title
    cli = (tmp_path / "site" / "cli" / "index.html").read_text()
    assert "lllm sessions list" in cli and "--config" in cli  # generated from the parser
    testing = (tmp_path / "site" / "api" / "testing" / "index.html").read_text()
    for anchor in ("lllm.testing.MockInvoker", "lllm.testing.TestInvoker", "lllm.logging.replay.ReplayInvoker"):
        assert f'id="{anchor}"' in testing, anchor  # rendered from the code by mkdocstrings


def test_every_public_name_has_an_api_page() -> None:
    """Each name ``lllm`` exports is rendered on an API page (``::: module.Name`` or its whole module)."""
    import re

    import lllm

    text = "\n".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.md"))
    documented = set(re.findall(r"^::: ([\w.]+)\s*$", text, re.M))
    missing = []
    for name in lllm.__all__:
        if name == "__version__":
            continue
        obj = getattr(lllm, name)
        module = getattr(obj, "__module__", "")
        if module not in documented and f"{module}.{getattr(obj, '__qualname__', name)}" not in documented:
            missing.append(f"{name} ({module})")
    assert not missing, f"add these to a page in docs/api/: {missing}"
