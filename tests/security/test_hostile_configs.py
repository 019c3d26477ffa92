"""Hostile YAML and configuration, through the real `lllm` command and the Python API: each is refused
with one clear line naming the file (exit 1, no traceback), loads nothing unbounded, writes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict

import pytest
from support.pkgtree import fresh_default_runtime, isolated, write_tree  # noqa: F401 - autouse fixtures

from lllm.core import yamlsafe
from lllm.errors import ConfigError, PackageError
from lllm.packages.config import check_config_shape, parse_agent_configs, resolve_config
from lllm.packages.discovery import load_package, read_data_file, split_front_matter
from lllm.packages.manifest import check_name, normalize_prefix, read_manifest
from lllm.packages.runtime import Runtime
from lllm.packages.skills import resolve_skills
from lllm.packages.yamlsafe import MAX_YAML_ALIAS_NODES, load_yaml, load_yaml_file

ROOT = Path(__file__).resolve().parents[2]


def laughs(levels: int = 9, width: int = 9) -> str:
    """The 'billion laughs' document: each anchor repeats the previous one ``width`` times."""
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def laughs_extra(levels: int = 9, width: int = 9) -> int:
    """How many nodes the aliases of ``laughs()`` add: expanded size minus the distinct nodes written."""
    sizes = [1 + width]
    for _ in range(1, levels):
        sizes.append(1 + width * sizes[-1])
    expanded = 1 + sum(1 + s for s in sizes)  # the root mapping, then each key and its list
    distinct = 1 + levels + (1 + width) + (levels - 1)
    return expanded - distinct


BOMB = laughs()
EXTRA = f"{laughs_extra():,}"
AGENT = "global: {model_name: test}\nagent_configs: [{name: a, system_prompt: hi}]\n"
TACTIC = """
    from lllm import Tactic

    class Echo(Tactic):
        name = "echo"
        agent_group = ["a"]

        def call(self, task: str) -> str:
            return self.agents["a"].model
"""


def lllm_command() -> list:
    script = shutil.which("lllm", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "lllm.cli"]


def cli(*args: str, cwd: Path, home: Path, **env: str) -> subprocess.CompletedProcess:
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "LLLM_HOME": str(home), **env}
    return subprocess.run([*lllm_command(), *args], cwd=cwd, capture_output=True, text=True, env=full, timeout=120)


def snapshot(root: Path) -> Dict[str, int]:
    """Every file under ``root`` and its size; Python's bytecode cache of the project's own modules aside."""
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def refused(out: subprocess.CompletedProcess, *needles: str) -> str:
    """The one error line of a refused command, after checking the exit code and that there is no traceback."""
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, out.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def project(tmp_path: Path, config: str) -> Path:
    return write_tree(
        tmp_path / "proj",
        {"lllm.toml": '[package]\nname = "proj"\n', "tactics/echo.py": TACTIC, "configs/echo.yaml": config},
    )


# ---------------------------------------------------------------------------------------------
# the bounded loader
# ---------------------------------------------------------------------------------------------


def test_billion_laughs_is_refused_while_loading_naming_the_bound():
    assert len(BOMB) < 500
    with pytest.raises(ConfigError) as e:
        load_yaml(BOMB, "bomb.yaml")
    assert str(e.value).startswith(
        f"bomb.yaml: YAML refused: its aliases expand it by {EXTRA} nodes; the limit is {MAX_YAML_ALIAS_NODES:,}"
    )


def test_sane_aliases_and_merge_keys_keep_working():
    text = (
        "defaults: &d {model_name: test, model_args: {temperature: 0.1}}\n"
        "global: *d\nagent_configs:\n  - {<<: *d, name: a, system_prompt: x}\n  - {<<: *d, name: b, system_prompt: y}\n"
    )
    data = load_yaml(text, "ok.yaml")
    assert data["global"] == {"model_name": "test", "model_args": {"temperature": 0.1}}
    assert [a["name"] for a in data["agent_configs"]] == ["a", "b"]
    assert data["agent_configs"][1]["model_args"] == {"temperature": 0.1}
    # aliases adding fewer nodes than the bound load; a document that is simply large (no aliases) is not
    # limited by it (its size is bounded by MAX_YAML_BYTES)
    assert laughs_extra(levels=4, width=10) < MAX_YAML_ALIAS_NODES < laughs_extra(levels=5, width=10)
    assert len(load_yaml(laughs(levels=4, width=10), "edge.yaml")["l3"]) == 10
    with pytest.raises(ConfigError, match=f"expand it by {laughs_extra(levels=5, width=10):,} nodes"):
        load_yaml(laughs(levels=5, width=10), "edge.yaml")
    assert (
        len(load_yaml("[" + ", ".join(["1"] * (MAX_YAML_ALIAS_NODES + 10)) + "]", "big.yaml"))
        == MAX_YAML_ALIAS_NODES + 10
    )


@pytest.mark.parametrize(
    "text, problem",
    [
        ("a: &a [1, *a]\n", "an alias refers to a node that contains it"),
        ("m: &m {k: *m}\n", "an alias refers to a node that contains it"),
        ("[" * 150 + "]" * 150, "it nests 150 levels deep; the limit is 100"),
        ("a: [1, 2\n", "not valid YAML"),
        ("--- 1\n--- 2\n", "not valid YAML: expected a single document"),
        ("!!python/object/apply:os.system [echo pwned]\n", "not valid YAML: could not determine a constructor"),
    ],
)
def test_hostile_documents_are_config_errors_naming_the_source(text, problem):
    with pytest.raises(ConfigError, match=r"^src\.yaml: "):
        load_yaml(text, "src.yaml")
    with pytest.raises(ConfigError) as e:
        load_yaml(text, "src.yaml")
    assert problem in str(e.value)


def test_oversized_files_are_refused_before_they_are_read(tmp_path, monkeypatch):
    monkeypatch.setattr(yamlsafe, "MAX_YAML_BYTES", 1000)
    big = tmp_path / "big.yaml"
    big.write_text("k: " + "x" * 2000 + "\n")
    with pytest.raises(ConfigError, match=rf"^{big}: the file is larger than 1,000 bytes"):
        load_yaml_file(big)
    with pytest.raises(ConfigError, match=r"^text: the YAML text has 2,004 characters; the limit is 1,000"):
        load_yaml("k: " + "x" * 2000 + "\n", "text")
    for name in ("big.json", "big.toml"):  # every format a package file is parsed from
        (tmp_path / name).write_text("x" * 2000)
        with pytest.raises(ConfigError, match=rf"^{tmp_path / name}: the file is larger than 1,000 bytes"):
            read_data_file(tmp_path / name)


# ---------------------------------------------------------------------------------------------
# every YAML LLLM reads goes through it
# ---------------------------------------------------------------------------------------------


def test_the_bomb_in_a_config_through_the_cli_fails_fast_and_saves_nothing(tmp_path):
    proj = project(tmp_path, BOMB + AGENT)
    before = snapshot(tmp_path)
    out = cli("run", "echo", "hi", "--store", str(tmp_path / "sessions.db"), cwd=proj, home=tmp_path / "home")
    refused(
        out,
        f"Error: {proj / 'configs/echo.yaml'}: YAML refused: its aliases expand it by {EXTRA} nodes",
        f"the limit is {MAX_YAML_ALIAS_NODES:,}",
    )
    assert snapshot(tmp_path) == before


def test_the_bomb_through_the_python_api(tmp_path):
    proj = project(tmp_path, BOMB + AGENT)
    rt = Runtime("t")
    load_package(proj, runtime=rt)
    with pytest.raises(ConfigError, match=rf"^{proj / 'configs/echo.yaml'}: YAML refused"):
        resolve_config("echo", runtime=rt)
    from lllm.core.tactic import build_tactic

    with pytest.raises(ConfigError, match=rf"^{proj / 'configs/echo.yaml'}: YAML refused"):
        build_tactic("echo", runtime=rt)


def test_the_bomb_in_package_data_prompt_front_matter_and_skills(tmp_path):
    root = write_tree(
        tmp_path / "p",
        {
            "lllm.toml": '[package]\nname = "p"\n[data]\npaths = ["data"]\n',
            "data/bomb.yaml": BOMB,
            "prompts/ok.md": "---\nx: &x 1\ny: *x\n---\nHello",
            "prompts/front.md": "---\n" + BOMB + "---\nHello",
        },
    )
    rt = Runtime("t")
    with pytest.warns(RuntimeWarning) as caught:
        load_package(root, runtime=rt)
    messages = [str(w.message) for w in caught]
    assert messages == [
        f"{root / 'prompts/front.md'}: front matter: YAML refused: its aliases expand it by "
        f"{EXTRA} nodes; the limit is {MAX_YAML_ALIAS_NODES:,} (a 'billion laughs' document?). "
        f"Write the values out or reuse fewer anchors; prompt skipped"
    ]
    assert rt.keys("prompt") == ["p.prompts:ok"] and rt.get_prompt("ok").metadata == {"x": 1, "y": 1}
    with pytest.raises(ConfigError, match=rf"^{root / 'data/bomb.yaml'}: YAML refused"):
        rt.get("p.data:bomb.yaml")
    with pytest.raises(PackageError, match=r"^f\.md: front matter: YAML refused"):
        split_front_matter("---\n" + BOMB + "---\nbody", Path("f.md"))

    skill = write_tree(
        tmp_path / "cwd/.agents/skills/lol", {"SKILL.md": "---\nname: lol\ndescription: d\n" + BOMB + "---\nBody"}
    )
    with pytest.raises(
        ConfigError,
        match=rf"^Skill 'lol' \({skill / 'SKILL.md'}\) is invalid: its front matter: "
        r"YAML refused: its aliases expand",
    ):
        resolve_skills(["lol"], cwd=tmp_path / "cwd", home=tmp_path / "nohome")


def test_a_bombed_skill_through_the_cli(tmp_path):
    proj = project(
        tmp_path, "global: {model_name: test, skills: [lol]}\nagent_configs: [{name: a, system_prompt: hi}]\n"
    )
    skill = write_tree(proj / ".agents/skills/lol", {"SKILL.md": "---\nname: lol\ndescription: d\n" + BOMB + "---\nB"})
    before = snapshot(tmp_path)
    out = cli("run", "echo", "hi", "--no-save", cwd=proj, home=tmp_path / "home")
    refused(
        out,
        f"Error: Skill 'lol' ({skill / 'SKILL.md'}) is invalid: its front matter: YAML refused: its aliases "
        f"expand it by {EXTRA} nodes",
    )
    assert snapshot(tmp_path) == before


def test_strict_list_fails_on_a_bombed_prompt(tmp_path):
    proj = write_tree(
        tmp_path / "proj",
        {"lllm.toml": '[package]\nname = "proj"\n', "prompts/front.md": "---\n" + BOMB + "---\nHello"},
    )
    out = cli("list", cwd=proj, home=tmp_path / "home", LLLM_STRICT="1")
    refused(out, f"{proj / 'prompts/front.md'}: front matter: YAML refused")
    lenient = cli("list", cwd=proj, home=tmp_path / "home")
    assert lenient.returncode == 0 and "prompt skipped" in lenient.stderr and "Traceback" not in lenient.stderr


def test_the_bomb_as_a_replay_override(tmp_path):
    proj = project(tmp_path, AGENT)
    store = str(tmp_path / "sessions.db")
    ran = cli("run", "echo", "hi", "--store", store, "--json", cwd=proj, home=tmp_path / "home")
    assert ran.returncode == 0, ran.stderr
    sid = cli("sessions", "list", "--store", store, cwd=proj, home=tmp_path / "home").stdout.split()
    session_id = next(w for w in sid if w[:2] == "20")
    before = snapshot(tmp_path)
    flow = "{" + BOMB.strip().replace("\n", ", ") + "}"
    out = cli(
        "replay", session_id, "--store", store, "--override", f"global.extra={flow}", cwd=proj, home=tmp_path / "home"
    )
    refused(out, "Error: --override global.extra: YAML refused: its aliases expand")
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------------------------
# wrong shapes: named file, named field, what it must be
# ---------------------------------------------------------------------------------------------

SHAPES = [
    ("agent_configs: 5\n", "'agent_configs' must be a list of agent configs (mappings, each with a 'name'), got int 5"),
    ("agent_group_configs: [1]\n", "'agent_group_configs' must be a mapping from agent names to agent configs"),
    ("global: 3\n", "'global' must be a mapping of agent settings merged into every agent, got int 3"),
    ("base: 5\n", "'base' must be the name of another config, got int 5"),
    ("invoker: [openai]\n", "'invoker' must be an invoker name"),
    ("invoker_config: 3\n", "'invoker_config' must be a mapping of invoker settings, got int 3"),
    ("mcp_servers: [x]\n", "'mcp_servers' must be a mapping from server names to MCP server settings"),
    ("max_workers: 0\n", "'max_workers' must be an integer >= 1, got int 0"),
    ("max_workers: true\n", "'max_workers' must be an integer >= 1, got bool True"),
    ("tactic_type: 3\n", "'tactic_type' must be a tactic name, got int 3"),
    ("agent_configs: [5]\n", "'agent_configs[0]' must be an agent config (a mapping with a 'name'), got int"),
    ("agent_configs: [{name: [a]}]\n", "'agent_configs[0]' needs a 'name' (a non-empty string), got ['a']"),
    ("agent_group_configs: {a: 3}\n", "'agent_group_configs.a' must be an agent config (a mapping), got int"),
    ("agent_configs: [{name: a, proxy: 3}]\n", "'agent_configs[0].proxy' must be a mapping, got int 3 (proxy settings"),
    ("global: {model_args: [1]}\n", "'global.model_args' must be a mapping, got list [1]"),
    ("global: {tools: search}\n", "'global.tools' must be a list, got str 'search' (tool, tactic or proxy URLs"),
    (
        "agent_group_configs: {a: {max_exception_retry: -1}}\n",
        "'agent_group_configs.a.max_exception_retry' must be >= 0, got int -1",
    ),
]


@pytest.mark.parametrize("text, message", SHAPES)
def test_wrong_shapes_name_the_file_and_field_python_api(tmp_path, text, message):
    proj = project(tmp_path, text)
    rt = Runtime("t")
    load_package(proj, runtime=rt)
    with pytest.raises(ConfigError) as e:
        resolve_config("echo", runtime=rt)
    assert str(e.value).startswith(f"Config 'proj.configs:echo' ({proj / 'configs/echo.yaml'}): {message}")
    with pytest.raises(ConfigError, match="^Tactic 'echo': config: "):  # a dict given in code: same check
        parse_agent_configs(load_yaml(text, "x"), ["a"], "echo")


def test_a_base_with_a_wrong_shape_is_named(tmp_path):
    proj = project(tmp_path, "base: parent\n" + AGENT)
    (proj / "configs/parent.yaml").write_text("agent_configs: {a: 1}\n")
    rt = Runtime("t")
    load_package(proj, runtime=rt)
    with pytest.raises(
        ConfigError,
        match=r"^Config 'proj.configs:parent' \(base of 'proj.configs:echo'\) "
        rf"\({proj / 'configs/parent.yaml'}\): 'agent_configs' must be a list",
    ):
        resolve_config("echo", runtime=rt)


@pytest.mark.parametrize("text, message", [SHAPES[0], SHAPES[2], SHAPES[13]])
def test_wrong_shapes_through_the_cli(tmp_path, text, message):
    proj = project(tmp_path, text)
    before = snapshot(tmp_path)
    out = cli("run", "echo", "hi", "--store", str(tmp_path / "s.db"), cwd=proj, home=tmp_path / "home")
    refused(out, f"Error: Config 'proj.configs:echo' ({proj / 'configs/echo.yaml'}): {message}")
    assert snapshot(tmp_path) == before


def test_valid_configs_pass_the_shape_check():
    config = {
        "base": None,
        "global": {"model_name": "test", "skills": "*", "tools": [], "max_llm_recall": 2},
        "agent_configs": [{"name": "a", "system_prompt": "x", "context_manager": None}],
        "agent_group_configs": {"b": {"system_prompt_path": "p"}},
        "max_workers": 3,
        "custom": 5,
    }
    assert check_config_shape(config, "c") is config


# ---------------------------------------------------------------------------------------------
# broken manifests: strict mode fails, the error named
# ---------------------------------------------------------------------------------------------


def test_list_fails_when_the_project_manifest_is_broken(tmp_path):
    proj = write_tree(tmp_path / "proj", {"lllm.toml": "[package\n", "prompts/p.md": "P"})
    for env in ({}, {"LLLM_STRICT": "1"}):
        out = cli("list", cwd=proj, home=tmp_path / "home", **env)
        refused(
            out, f"Error: Loading the project and its packages failed: PackageError: {proj / 'lllm.toml'}: invalid TOML"
        )


def test_strict_list_fails_on_a_broken_drop_in_and_lenient_list_warns(tmp_path):
    home = tmp_path / "home"
    proj = write_tree(tmp_path / "proj", {"lllm.toml": '[package]\nname = "proj"\n', "prompts/p.md": "P"})
    write_tree(
        home / "packages",
        {"bad/lllm.toml": '[package]\nname = "Bad Name"\n', "ok/lllm.toml": "", "ok/prompts/o.md": "O"},
    )
    strict = cli("list", cwd=proj, home=home, LLLM_STRICT="1")
    refused(strict, f"{home / 'packages/bad/lllm.toml'}: [package].name 'Bad Name' is not a valid package name")
    lenient = cli("list", cwd=proj, home=home)
    assert lenient.returncode == 0 and lenient.stdout == "prompts (2)\n  ok.prompts:o\n  proj.prompts:p\n"
    assert f"Warning: {home / 'packages/bad/lllm.toml'}: [package].name 'Bad Name'" in lenient.stderr


@pytest.mark.parametrize(
    "manifest, problem",
    [
        (
            '[package]\nname = "deep"\nx = ' + "[" * 5000 + "]" * 5000 + "\n",
            "invalid TOML: it nests too deeply to parse",
        ),
        ('[package]\nname = "big"\n#' + "x" * (1024 * 1024) + "\n", "the manifest is larger than 1,048,576 bytes"),
    ],
)
def test_hostile_manifests_in_a_project_and_an_archive(tmp_path, manifest, problem):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "lllm.toml").write_text(manifest)
    before = snapshot(tmp_path)
    refused(cli("list", cwd=proj, home=tmp_path / "home"), f"PackageError: {proj / 'lllm.toml'}: {problem}")
    archive = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("hostile/lllm.toml", manifest)
    before = snapshot(tmp_path)
    refused(cli("pkg", "install", str(archive), cwd=proj, home=tmp_path / "home"), f"Error: {archive}: ")
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------------------------
# names with a trailing newline
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "check",
    [
        lambda: check_name("name\n", "package"),
        lambda: normalize_prefix("a/b\n/c", "where"),
    ],
)
def test_trailing_newlines_are_refused_by_validators(check):
    with pytest.raises(PackageError):
        check()


def test_trailing_newlines_in_manifests_and_file_names(tmp_path):
    root = write_tree(tmp_path / "p", {"lllm.toml": '[package]\nname = "p\\n"\n'})
    with pytest.raises(PackageError, match=r"\[package\]\.name 'p\\n' is not a valid package name"):
        read_manifest(root / "lllm.toml", lambda m: None)
    root = write_tree(
        tmp_path / "q",
        {
            "lllm.toml": '[package]\nname = "q"\n["sec\\n"]\npaths = ["prompts"]\n'
            '[dependencies]\npackages = [{path = "dep", alias = "d\\n"}]\n',
            "prompts/ok.md": "OK",
            "dep/lllm.toml": "",
        },
    )
    (root / "prompts/bad\n.md").write_text("bad")
    warned: list = []
    m = read_manifest(root / "lllm.toml", warned.append)
    assert "sec\n" not in m.sections and m.dependencies == []
    assert any("section name [sec\n]" in w for w in warned) and any("alias 'd\\n'" in w for w in warned)
    rt = Runtime("t")
    with pytest.warns(RuntimeWarning) as caught:
        load_package(root, runtime=rt)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 3
    for needle in (
        "section name [sec\n] may only use letters, digits, '_' and '-'; ignored",
        "the name 'bad\\n.md' cannot be part of a resource key",
        "alias 'd\\n' is not a valid package name",
    ):
        assert any(needle in m for m in messages), (needle, messages)
    assert rt.keys("prompt") == ["q.prompts:ok"]
    from lllm.core.tools import Function
    from lllm.packages.skills import NAME_RE

    assert NAME_RE.match("ok-skill") and not NAME_RE.match("ok-skill\n")
    with pytest.raises(ValueError, match=r"Tool name 'tool\\n' must match"):
        Function(name="tool\n", description="d", properties={}, required=[])


def test_alias_with_a_trailing_newline_through_the_cli(tmp_path):
    archive = tmp_path / "greeter.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("greeter/lllm.toml", '[package]\nname = "greeter"\n')
    (tmp_path / "work").mkdir()
    before = snapshot(tmp_path)
    out = cli("pkg", "install", str(archive), "--alias", "copy\n", cwd=tmp_path / "work", home=tmp_path / "home")
    refused(out, "Error: alias 'copy\\n' is not a valid package name")
    assert snapshot(tmp_path) == before
