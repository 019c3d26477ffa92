"""0.1.x package flows: a package installed under an alias still reaches itself, and a bundled export
keeps folders re-exported from its dependencies (issue 10 §3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
from support.pkgtree import write_tree

from lllm.core.discovery import load_package
from lllm.core.packages import export_package, install_package
from lllm.core.runtime import Runtime

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "travel_brief"


def _cli(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LLLM_HOME": str(home), "HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "lllm.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_readme_flow_install_under_an_alias_then_run(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    out = _cli("pkg", "export", "travel_brief", str(work / "travel_brief.zip"), cwd=EXAMPLE, home=home)
    assert out.returncode == 0, out.stderr
    out = _cli("pkg", "install", "travel_brief.zip", "--alias", "travel", cwd=work, home=home)
    assert out.returncode == 0, out.stderr
    manifest = (home / "packages" / "travel" / "lllm.toml").read_text()
    assert 'name = "travel"' in manifest and 'original_name = "travel_brief"' in manifest
    out = _cli("run", "travel.tactics:travel_brief", '{"city": "Oslo"}', "--json", "--no-save", cwd=work, home=home)
    assert out.returncode == 0, out.stderr  # the tactic's prompt names "travel_brief.tools:get_climate"
    doc = json.loads(out.stdout)
    assert doc["result"]["city"] == "Oslo"
    assert doc["summary"]["agent_calls"] == 2


def test_alias_install_keeps_self_references_and_the_first_original_name(tmp_path):
    zip_path = export_package("travel_brief", tmp_path / "tb.zip", runtime=_loaded_example())
    rt = Runtime()
    target = install_package(zip_path, alias="travel", runtime=rt)
    assert rt.get_tool("travel_brief.tools:get_climate") is rt.get_tool("travel.tools:get_climate")
    assert rt.packages["travel"].name == "travel"
    again = export_package("travel", tmp_path / "again.zip", runtime=rt)
    rt2 = Runtime()
    install_package(again, alias="trips", scope="project", runtime=rt2)
    assert rt2.get_tool("travel_brief.tools:get_climate") is rt2.get_tool("trips.tools:get_climate")
    assert target.name == "travel"


def test_alias_whose_original_name_is_taken_warns_and_resolves_there(tmp_path):
    zip_path = export_package("travel_brief", tmp_path / "tb.zip", runtime=_loaded_example())
    rt = Runtime()
    install_package(zip_path, runtime=rt)
    with pytest.warns(RuntimeWarning, match="renamed from 'travel_brief'.*resolve in that package"):
        install_package(zip_path, alias="travel", runtime=rt)
    assert rt.packages["travel"].base_dir != rt.packages["travel_brief"].base_dir


def _loaded_example() -> Runtime:
    rt = Runtime()
    load_package(str(EXAMPLE / "lllm.toml"), runtime=rt)
    return rt


def test_bundled_export_repoints_folders_reexported_from_a_dependency(tmp_path):
    write_tree(
        tmp_path / "src",
        {
            "lib/lllm.toml": '[package]\nname = "lib"\n',
            "lib/tools/lookup.py": """
            from lllm import tool

            @tool
            def lookup(q: str) -> str:
                \"\"\"Look a word up.\"\"\"
                return "lib says " + q
        """,
            "lib/prompts/ask.md": "Answer {q}",
            "app/lllm.toml": '[package]\nname = "app"\n[dependencies]\npackages = ["../lib"]\n'
            '[prompts]\npaths = ["prompts", "../lib/prompts under vendored", '
            '{path = "../lib/prompts", prefix = "again"}]\n',
            "app/prompts/own.md": "Mine",
        },
    )
    src = Runtime()
    load_package(str(tmp_path / "src" / "app" / "lllm.toml"), runtime=src)
    zip_path = export_package("app", tmp_path / "app.zip", bundle_deps=True, runtime=src)
    with zipfile.ZipFile(zip_path) as zf:
        manifest = zf.read("app/lllm.toml").decode()
    assert '"lllm_packages/lib/prompts under vendored"' in manifest and 'path = "lllm_packages/lib/prompts"' in manifest
    rt = Runtime()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "folder ... does not exist; entry ignored"
        install_package(zip_path, runtime=rt)
    assert rt.get_prompt("app.prompts:vendored/ask").prompt == "Answer {q}"
    assert rt.get_prompt("app.prompts:again/ask").prompt == "Answer {q}"
    assert rt.get_prompt("app.prompts:own").prompt == "Mine" and rt.get_tool("lib.tools:lookup").linked
