"""The `lllm` command: help and usage errors, `run` (offline notice, --json, --config, --model), `list`,
and the install -> list -> export -> remove round trip through the real console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support.pkgtree import write_tree

from lllm.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/travel_brief"


def lllm_command() -> list:
    script = shutil.which("lllm", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "lllm.cli"]


def cli(*args: str, cwd: Path, home: Path, **env: str) -> subprocess.CompletedProcess:
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "LLLM_HOME": str(home), **env}
    return subprocess.run([*lllm_command(), *args], cwd=cwd, capture_output=True, text=True, env=full, timeout=120)


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["run", "--help"],
        ["list", "--help"],
        ["pkg", "--help"],
        ["pkg", "install", "--help"],
        ["pkg", "list", "--help"],
        ["pkg", "remove", "--help"],
        ["pkg", "export", "--help"],
    ],
)
def test_help_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith("usage: lllm")


@pytest.mark.parametrize(
    "argv",
    [[], ["bogus"], ["run"], ["pkg", "install"], ["pkg", "list", "--scope", "x"], ["run", "t", "task", "--nope"]],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "usage: lllm" in capsys.readouterr().err


def test_run_the_example_offline_with_json(monkeypatch, capsys):
    monkeypatch.chdir(EXAMPLE)
    assert main(["run", "travel_brief.tactics:travel_brief", '{"city": "Oslo", "month": "march"}', "--json"]) == 0
    out, err = capsys.readouterr()
    assert "running offline on LLLM's deterministic test model (model='test')" in err
    doc = json.loads(out)
    assert doc["tactic"] == "travel_brief.tactics:travel_brief"
    assert doc["result"]["city"] == "Oslo" and doc["result"]["rain_risk"] in ("low", "medium", "high")
    assert doc["summary"]["state"] == "success" and doc["summary"]["agent_calls"] == 2
    assert doc["summary"]["tactic_path"] == "travel_brief::travel_brief"


def test_run_text_output_config_and_model(tmp_path, monkeypatch, capsys):
    write_tree(
        tmp_path / "proj",
        {
            "lllm.toml": '[package]\nname = "proj"\n',
            "tactics/echo.py": """
            from lllm import Tactic

            class Echo(Tactic):
                name = "echo"
                agent_group = ["a"]

                def call(self, task: str) -> str:
                    return f"{task} via {self.agents['a'].model} ({self.config['label']})"
        """,
            "configs/echo.yaml": "label: own\nglobal: {model_name: gpt-4o-mini}\nagent_configs: [{name: a, system_prompt: x}]\n",
            "configs/alt.yaml": "base: echo\nlabel: alt\n",
        },
    )
    monkeypatch.chdir(tmp_path / "proj")
    assert main(["run", "echo", "hi"]) == 0
    out, err = capsys.readouterr()
    assert out == "hi via test (own)\n"
    assert err.splitlines()[-1].startswith("0 agent calls, 0 prompt + 0 completion tokens, $0.000000; session ")
    assert (tmp_path / "lllm-sessions.db").exists()  # runs are recorded by default (here in $LLLM_STORE)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    assert main(["run", "proj:echo", "hi", "--config", "alt", "--model", "my-model"]) == 0
    out, err = capsys.readouterr()
    assert out == "hi via my-model (alt)\n" and "offline" not in err
    assert main(["run", "echo", "hi"]) == 0
    assert capsys.readouterr().out == "hi via gpt-4o-mini (own)\n"
    assert main(["run", "echo", "hi", "--config", "nope"]) == 1
    assert capsys.readouterr().err.startswith("Error: No config 'nope' in runtime 'default'.")
    assert main(["run", "ecko", "hi"]) == 1
    assert (
        capsys.readouterr().err
        == "Error: No tactic 'ecko' in runtime 'default'. Did you mean: ['proj.tactics:echo']?\n"
    )


def test_run_counts_one_agent_call_in_the_singular(tmp_path, monkeypatch, capsys):
    write_tree(
        tmp_path / "one",
        {
            "lllm.toml": '[package]\nname = "one"\n',
            "tactics/ask.py": """
            from lllm import Tactic

            class Ask(Tactic):
                name = "ask"
                agent_group = ["a"]

                def call(self, task: str) -> str:
                    return self.agents["a"].run(task)
        """,
            "configs/ask.yaml": "global: {model_name: test}\nagent_configs: [{name: a, system_prompt: x}]\n",
        },
    )
    monkeypatch.chdir(tmp_path / "one")
    assert main(["run", "ask", "hi"]) == 0
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("1 agent call, "), err


def test_list(tmp_path, monkeypatch, capsys):
    write_tree(tmp_path / "proj", {"lllm.toml": "", "prompts/a.md": "A", "prompts/b.md": "B", "configs/c.yaml": "{}"})
    monkeypatch.chdir(tmp_path / "proj")
    assert main(["list"]) == 0
    assert capsys.readouterr().out == "configs (1)\n  proj.configs:c\nprompts (2)\n  proj.prompts:a\n  proj.prompts:b\n"
    assert main(["list", "prompts"]) == 0
    assert capsys.readouterr().out == "prompts (2)\n  proj.prompts:a\n  proj.prompts:b\n"
    assert main(["list", "tools"]) == 1
    assert capsys.readouterr().err == "Error: No resources in section 'tools'. Sections: ['configs', 'prompts']\n"


def test_list_without_a_project(monkeypatch, capsys):
    assert main(["list"]) == 0
    assert capsys.readouterr().out.startswith("No resources loaded")


def test_errors_print_one_line_and_exit_1(tmp_path, capsys):
    assert main(["pkg", "install", str(tmp_path / "missing.zip")]) == 1
    assert capsys.readouterr().err == f"Error: No such package archive: {tmp_path / 'missing.zip'}\n"
    assert main(["pkg", "remove", "ghost"]) == 1
    assert capsys.readouterr().err == "Error: No installed package 'ghost' in the project or user scope\n"


def test_round_trip_through_the_console_script(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    archive = tmp_path / "greeter.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("greeter/lllm.toml", '[package]\nname = "greeter"\nversion = "0.1.0"\n')
        zf.writestr("greeter/prompts/hello.md", "Hello {name}")
        zf.writestr(
            "greeter/tactics/greet.py",
            (
                "from lllm import Tactic\n\nclass Greet(Tactic):\n    name = 'greet'\n\n"
                "    def call(self, task: str) -> str:\n        return 'hello ' + task\n"
            ),
        )

    empty = cli("pkg", "list", cwd=work, home=home)
    assert (empty.returncode, empty.stdout) == (0, "No packages installed.\n")

    installed = cli("pkg", "install", str(archive), cwd=work, home=home)
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout == f"Installed greeter to {home / 'packages/greeter'}\n"

    listed = cli("pkg", "list", cwd=work, home=home)
    assert listed.stdout.splitlines() == [
        "NAME     VERSION  SCOPE  PATH",
        f"greeter  0.1.0    user   {home / 'packages/greeter'}",
    ]

    ran = cli("run", "greeter.tactics:greet", "world", cwd=work, home=home)
    assert ran.returncode == 0 and ran.stdout == "hello world\n"
    resources = cli("list", cwd=work, home=home)
    assert resources.stdout == "prompts (1)\n  greeter.prompts:hello\ntactics (1)\n  greeter.tactics:greet\n"

    again = cli("pkg", "install", str(archive), cwd=work, home=home)
    assert again.returncode == 1 and again.stderr.startswith("Error: Package 'greeter' is already installed at ")

    exported = cli("pkg", "export", "greeter", str(tmp_path / "out/copy"), cwd=work, home=home)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == f"Exported greeter to {tmp_path / 'out/copy.zip'}\n"
    with zipfile.ZipFile(tmp_path / "out/copy.zip") as zf:
        assert zf.namelist() == ["greeter/lllm.toml", "greeter/prompts/hello.md", "greeter/tactics/greet.py"]

    aliased = cli(
        "pkg", "install", str(tmp_path / "out/copy.zip"), "--alias", "greeter2", "--no-load", cwd=work, home=home
    )
    assert aliased.returncode == 0, aliased.stderr
    removed = cli("pkg", "remove", "greeter", cwd=work, home=home)
    assert removed.returncode == 0 and removed.stdout == f"Removed greeter from {home / 'packages/greeter'}\n"
    final = cli("pkg", "list", "--scope", "user", cwd=work, home=home)
    assert [line.split()[0] for line in final.stdout.splitlines()] == ["NAME", "greeter2"]
    hostile = tmp_path / "evil.zip"
    with zipfile.ZipFile(hostile, "w") as zf:
        zf.writestr("evil/lllm.toml", "")
        zf.writestr("evil/../../escape.txt", "x")
    refused = cli("pkg", "install", str(hostile), cwd=work, home=home)
    assert refused.returncode == 1 and "contains '..'; refusing to install" in refused.stderr
    assert not (tmp_path / "escape.txt").exists() and not (home / "packages/evil").exists()
