"""Skills (§3.4): SKILL.md discovery and validation, URL skills, Anthropic-hosted ids, the catalog and
``activate_skill`` in an agent's tool loop."""

from __future__ import annotations

import http.server
import time
import warnings

import pytest
from support.handler_server import serving

from lllm import Agent, Roles
from lllm.core.message import FunctionCall
from lllm.core.prompt import Prompt
from lllm.core.tools import tool
from lllm.errors import ConfigError
from lllm.invokers.anthropic import anthropic_skills
from lllm.packages.config import parse_agent_configs
from lllm.packages.skills import SKILLS_BETA, SkillSet, resolve_skills, skill_search_dirs
from lllm.testing import MockInvoker, tool_calls


def write_skill(
    base, name, description="Does things. Use it for things.", body="# Steps\n1. Do it.", front=None, files=()
):
    folder = base / name
    folder.mkdir(parents=True, exist_ok=True)
    front = front if front is not None else f"name: {name}\ndescription: {description}\n"
    (folder / "SKILL.md").write_text(f"---\n{front}---\n\n{body}\n", encoding="utf-8")
    for rel in files:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text("x", encoding="utf-8")
    return folder


@pytest.fixture
def dirs(tmp_path):
    cwd, home = tmp_path / "project", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    return cwd, home


def test_search_order_and_first_match_wins(dirs):
    cwd, home = dirs
    assert skill_search_dirs(cwd, home) == [
        cwd / ".agents/skills",
        cwd / ".claude/skills",
        home / ".agents/skills",
        home / ".claude/skills",
    ]
    write_skill(home / ".claude/skills", "pdf-tools", "From home claude.")
    assert resolve_skills(["pdf-tools"], cwd=cwd, home=home).skills[0].description == "From home claude."
    write_skill(home / ".agents/skills", "pdf-tools", "From home agents.")
    write_skill(cwd / ".claude/skills", "pdf-tools", "From project claude.")
    assert resolve_skills(["pdf-tools"], cwd=cwd, home=home).skills[0].description == "From project claude."
    write_skill(cwd / ".agents/skills", "pdf-tools", "From project agents.")
    skill = resolve_skills(["pdf-tools"], cwd=cwd, home=home).skills[0]
    assert skill.description == "From project agents."
    assert skill.directory == (cwd / ".agents/skills/pdf-tools").resolve()
    assert skill.body == "# Steps\n1. Do it."


def test_a_local_entry_must_be_a_skill_name(dirs):
    cwd, home = dirs
    write_skill(cwd, "outside")  # a valid SKILL.md, but not in a skills directory
    for entry in ("../../outside", "Outside", "a/b"):
        with pytest.raises(ConfigError, match="is not a skill name"):
            resolve_skills([entry], cwd=cwd, home=home)


def test_unknown_name_lists_the_skills_found(dirs):
    cwd, home = dirs
    write_skill(cwd / ".claude/skills", "alpha")
    write_skill(home / ".agents/skills", "beta")
    with pytest.raises(ConfigError, match=r"Skill 'gamma' not found in .*Skills found: \['alpha', 'beta'\]"):
        resolve_skills(["alpha", "gamma"], cwd=cwd, home=home)


@pytest.mark.parametrize(
    "front, problem",
    [
        ("description: d\n", "'name' must be"),
        ("name: Bad_Name\ndescription: d\n", "'name' must be 1-64 characters of \\[a-z0-9-\\]"),
        ("name: other\ndescription: d\n", "'name' is 'other' but its directory is 'tool'"),
        ("name: tool\n", "'description' must be a non-empty string"),
        ("name: tool\ndescription: '   '\n", "'description' must be a non-empty string"),
        (f"name: tool\ndescription: {'x' * 1025}\n", "the limit is 1024"),
        ("name: [tool\n", "not valid YAML"),
    ],
)
def test_front_matter_is_validated(dirs, front, problem):
    cwd, home = dirs
    write_skill(cwd / ".agents/skills", "tool", front=front)
    with pytest.raises(ConfigError, match=r"(?s)Skill 'tool' \(.*SKILL.md\) is invalid: .*" + problem):
        resolve_skills(["tool"], cwd=cwd, home=home)


def test_a_skill_md_without_front_matter_is_rejected(dirs):
    cwd, home = dirs
    folder = cwd / ".agents/skills/plain"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("# Just text\n")
    with pytest.raises(ConfigError, match="must start with YAML front matter"):
        resolve_skills(["plain"], cwd=cwd, home=home)


def test_star_takes_every_valid_local_skill_and_warns_about_broken_ones(dirs):
    cwd, home = dirs
    write_skill(cwd / ".agents/skills", "one")
    write_skill(home / ".claude/skills", "two")
    write_skill(home / ".claude/skills", "one", "shadowed")
    write_skill(cwd / ".claude/skills", "broken", front="name: nope\ndescription: d\n")
    with pytest.warns(UserWarning, match="Skill 'broken' .* is invalid"):
        skills = resolve_skills("*", cwd=cwd, home=home)
    assert [(s.name, s.description) for s in skills.skills] == [
        ("one", "Does things. Use it for things."),
        ("two", "Does things. Use it for things."),
    ]
    assert not resolve_skills(None) and not resolve_skills([])
    for bad in ("pdf", [1], {"a": 1}, [""]):
        with pytest.raises(ConfigError, match="skills must be a list"):
            resolve_skills(bad)


def test_hosted_ids_go_into_model_args_with_the_beta_header():
    skills = resolve_skills(["skill_01AbC", "skill_01AbC", "skill_02"])
    assert skills.hosted == ["skill_01AbC", "skill_02"] and not skills.skills
    prompt = Prompt(path="sys", prompt="You help.")
    args = {
        "temperature": 0,
        "skills": [{"id": "skill_02"}],
        "extra_headers": {"Anthropic-Beta": "files-api-2025-04-14"},
    }
    out_prompt, tools, out = skills.apply(prompt, args)
    assert out_prompt is prompt and tools == []
    assert out["skills"] == [{"id": "skill_02"}, {"id": "skill_01AbC"}]
    assert out["extra_headers"] == {"Anthropic-Beta": f"files-api-2025-04-14,{SKILLS_BETA}"}
    assert args["skills"] == [{"id": "skill_02"}]  # the caller's model_args are untouched
    assert skills.apply(prompt, {})[2]["extra_headers"] == {"anthropic-beta": SKILLS_BETA}
    assert skills.apply(prompt, out)[2] == out  # applying twice adds nothing
    assert anthropic_skills(out["skills"])[1] == {"type": "custom", "skill_id": "skill_01AbC", "version": "latest"}


def test_catalog_and_activate_skill_through_the_agent_loop(dirs):
    cwd, home = dirs
    write_skill(
        cwd / ".agents/skills",
        "csv-report",
        "Builds CSV reports {with braces} & <tags>.",
        body="Use scripts/report.py.",
        files=("scripts/report.py", "reference.md", ".hidden"),
    )
    write_skill(home / ".agents/skills", "notes")
    skills = resolve_skills(["csv-report", "notes", "skill_hosted1"], cwd=cwd, home=home)
    system = Prompt(path="sys", prompt="You are {role}.")
    prompt, tools, args = skills.apply(system, {"temperature": 0})
    assert system.prompt == "You are {role}." and "activate_skill" not in system.functions  # not mutated
    assert [t.name for t in tools] == ["activate_skill"] and "activate_skill" in prompt.functions
    assert prompt.path == "sys" and args["skills"] == [{"id": "skill_hosted1"}]
    inv = MockInvoker(
        [
            tool_calls(("activate_skill", {"name": "csv-report"}, "s1"), ("activate_skill", {"name": "nope"}, "s2")),
            "report built",
        ]
    )
    agent = Agent(name="bot", system_prompt=prompt, model="mock", llm_invoker=inv, model_args=args)
    agent.open("main", prompt_args={"role": "an analyst"})
    agent.receive("Make the report")
    assert agent.respond().content == "report built"
    system_text = inv.requests[0].messages[0].content
    assert system_text.startswith("You are an analyst.\n\n## Skills\n")
    assert (
        "<skill>\n<name>csv-report</name>\n<description>Builds CSV reports {with braces} &amp; &lt;tags&gt;."
        "</description>\n<location>" + str((cwd / ".agents/skills/csv-report/SKILL.md").resolve())
    ) in system_text
    assert "<name>notes</name>" in system_text and system_text.endswith("</available_skills>")
    assert inv.requests[0].tools == ["activate_skill"]
    assert inv.requests[0].model_args["extra_headers"] == {"anthropic-beta": SKILLS_BETA}
    found, missing = [m.content for m in agent.current_dialog.messages if m.role == Roles.TOOL]
    directory = (cwd / ".agents/skills/csv-report").resolve()
    assert found == (
        f'<skill name="csv-report">\n<directory>{directory}</directory>\n'
        f"<resources>\nreference.md\nscripts/report.py\n</resources>\n"
        f"<instructions>\nUse scripts/report.py.\n</instructions>\n</skill>"
    )
    assert missing == "Error: no skill 'nope'. Available skills: ['csv-report', 'notes']"


def test_a_prompt_that_already_has_activate_skill_is_refused(dirs):
    cwd, home = dirs
    write_skill(cwd / ".agents/skills", "one")

    @tool
    def activate_skill(name: str) -> str:
        """Mine."""
        return name

    prompt = Prompt(path="sys", prompt="Hi", function_list=[activate_skill])
    with pytest.raises(ConfigError, match="already declares a tool 'activate_skill'"):
        resolve_skills(["one"], cwd=cwd, home=home).apply(prompt, {})
    assert SkillSet().apply("plain text", None)[0].prompt == "plain text"


def test_a_per_agent_list_replaces_the_global_one(dirs):
    config = {
        "global": {"model_name": "mock", "system_prompt": "Hi", "skills": "*"},
        "agent_configs": [{"name": "a", "skills": ["skill_x"]}, {"name": "b"}],
    }
    specs = parse_agent_configs(config, ["a", "b"], "t")
    assert specs["a"].skills == ["skill_x"] and specs["b"].skills == "*"


class _SkillHandler(http.server.BaseHTTPRequestHandler):
    pages = {}
    hits = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.hits.append(self.path)
        if self.path == "/slow/SKILL.md":
            time.sleep(1.5)
        body = self.pages.get(self.path)
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def log_message(self, *args):
        pass


@pytest.fixture
def skill_site():
    _SkillHandler.pages = {
        "/skills/web-lookup/SKILL.md": "---\nname: web-lookup\ndescription: Looks things up.\n---\nSearch first.\n",
        "/skills/wrong-dir/SKILL.md": "---\nname: web-lookup\ndescription: Mismatch.\n---\n",
        "/raw.md": "no front matter",
        "/slow/SKILL.md": "---\nname: slow\ndescription: Slow.\n---\n",
    }
    _SkillHandler.hits = []
    with serving(_SkillHandler) as url:
        yield url


def test_url_skills_are_fetched_once_and_failures_are_skipped_with_a_warning(skill_site, dirs):
    cwd, home = dirs
    good = f"{skill_site}/skills/web-lookup/SKILL.md"
    cache = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = resolve_skills([good], cwd=cwd, home=home, cache=cache)
        second = resolve_skills([good, "skill_h"], cwd=cwd, home=home, cache=cache)
    assert _SkillHandler.hits == ["/skills/web-lookup/SKILL.md"]  # one fetch for both agents
    assert first.skills[0] is second.skills[0]
    skill = first.skills[0]
    assert (skill.name, skill.body, skill.location, skill.directory) == ("web-lookup", "Search first.", good, None)
    text = first.activate_tool()(FunctionCall(id="1", name="activate_skill", arguments={"name": "web-lookup"})).result
    assert f"<directory>{skill_site}/skills/web-lookup</directory>" in text and "(none)" in text
    for path, reason in (
        ("/missing/SKILL.md", "HTTPError"),
        ("/skills/wrong-dir/SKILL.md", "directory is 'wrong-dir'"),
        ("/raw.md", "front matter"),
    ):
        with pytest.warns(UserWarning, match=f"Skill URL .*{path} skipped: .*{reason}"):
            assert not resolve_skills([f"{skill_site}{path}"], cwd=cwd, home=home)
    start = time.monotonic()
    with pytest.warns(UserWarning, match="slow/SKILL.md skipped: .*timed out"):
        assert not resolve_skills([f"{skill_site}/slow/SKILL.md"], timeout=0.3)
    assert time.monotonic() - start < 1.4
    port_closed = "http://127.0.0.1:9/x/SKILL.md"
    with pytest.warns(UserWarning, match="skipped"):
        assert not resolve_skills([port_closed], timeout=2)
