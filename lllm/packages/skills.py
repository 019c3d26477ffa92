"""Agent skills (§3.4, experimental): folders with a ``SKILL.md`` (the agentskills.io format), remote
``SKILL.md`` files, and skills hosted by Anthropic.

An agent's ``skills:`` is a list or ``"*"`` (every local skill). Each entry is
- ``skill_…``: an Anthropic-hosted skill; it goes into ``model_args`` (``skills: [{id}]`` and the header
  ``anthropic-beta: skills-2025-10-02``) and the provider runs it;
- ``http(s)://…``: a ``SKILL.md`` fetched once (10 s; on failure a warning, and the entry is skipped);
- a name: the folder ``<name>/SKILL.md`` in ``./.agents/skills``, ``./.claude/skills``,
  ``~/.agents/skills`` or ``~/.claude/skills`` (first match wins; unknown → ``ConfigError``).

Local and URL skills are disclosed progressively: the system prompt gets an ``<available_skills>``
catalog (name, description, location) and the agent an ``activate_skill(name)`` tool that returns the
instructions (the body of SKILL.md), the skill's directory and its resource files.

``resolve_skills`` does the file and network work, once per tactic instance; ``SkillSet.apply`` is pure
and runs for every agent built."""

from __future__ import annotations

import os
import re
import urllib.request
import warnings
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from lllm.core.prompt import Prompt, StringFormatterRenderer
from lllm.core.tools import Function
from lllm.errors import ConfigError
from lllm.packages.yamlsafe import load_yaml, read_text_capped

SKILL_FILE = "SKILL.md"
SKILL_DIRS = (".agents/skills", ".claude/skills")  # under the working directory, then under the home directory
SKILLS_BETA = "skills-2025-10-02"
HOSTED_PREFIX = "skill_"
NAME_RE = re.compile(r"[a-z0-9-]{1,64}\Z")
MAX_DESCRIPTION = 1024
FETCH_TIMEOUT = 10.0
MAX_FETCH_BYTES = 1 << 20
MAX_RESOURCES = 200

CATALOG_INTRO = (
    "## Skills\n"
    "Skills hold instructions and resources for specialised tasks. When a task matches a skill's "
    "description, call `activate_skill` with its name and follow the instructions it returns."
)


@dataclass(frozen=True)
class Skill:
    """One local or remote skill: its front matter, its instructions (``body``) and where it lives."""

    name: str
    description: str
    body: str
    location: str  # the SKILL.md path or URL
    directory: Optional[Path] = None  # the skill's folder (None for a URL skill)

    def resources(self) -> List[str]:
        """The skill's other files (relative POSIX paths, hidden ones left out), at most ``MAX_RESOURCES``."""
        if self.directory is None:
            return []
        found = []
        for root, dirs, files in os.walk(self.directory):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for f in sorted(files):
                path = Path(root, f).relative_to(self.directory).as_posix()
                if not f.startswith(".") and path != SKILL_FILE:
                    found.append(path)
        return (
            found
            if len(found) <= MAX_RESOURCES
            else [*found[:MAX_RESOURCES], f"... ({len(found) - MAX_RESOURCES} more)"]
        )


def parse_skill(
    text: str, location: str, directory_name: Optional[str] = None, directory: Optional[Path] = None
) -> Skill:
    """A ``Skill`` from SKILL.md text; ``ValueError`` saying what is wrong with its front matter."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ValueError("it must start with YAML front matter between '---' lines (name, description)")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise ValueError("its front matter has no closing '---' line")
    meta = load_yaml("".join(lines[1:end]), "its front matter") or {}  # ConfigError (a ValueError) if refused
    if not isinstance(meta, dict):
        raise ValueError("its front matter must be a mapping with 'name' and 'description'")
    name, description = meta.get("name"), meta.get("description")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"'name' must be 1-64 characters of [a-z0-9-], got {name!r}")
    if directory_name is not None and name != directory_name:
        raise ValueError(f"'name' is {name!r} but its directory is {directory_name!r}; they must be equal")
    if not isinstance(description, str) or not description.strip():
        raise ValueError("'description' must be a non-empty string saying what the skill does and when to use it")
    if len(description) > MAX_DESCRIPTION:
        raise ValueError(f"'description' has {len(description)} characters; the limit is {MAX_DESCRIPTION}")
    return Skill(
        name=name,
        description=description.strip(),
        body="".join(lines[end + 1 :]).strip("\n"),
        location=location,
        directory=directory,
    )


def load_skill_dir(directory: Path) -> Skill:
    """The skill in ``directory`` (its SKILL.md); ``ConfigError`` naming the file if it is invalid."""
    path = directory / SKILL_FILE
    try:
        return parse_skill(read_text_capped(path), str(path), directory.name, directory.resolve())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"Skill '{directory.name}' ({path}) is invalid: {e}") from None


def skill_search_dirs(cwd: Optional[Path] = None, home: Optional[Path] = None) -> List[Path]:
    """Where local skills are looked for, in order: ``./.agents/skills``, ``./.claude/skills``,
    ``~/.agents/skills``, ``~/.claude/skills``."""
    cwd = Path(cwd) if cwd is not None else Path.cwd()
    home = Path(home) if home is not None else Path.home()
    return [base / sub for base in (cwd, home) for sub in SKILL_DIRS]


def discover_skills(cwd: Optional[Path] = None, home: Optional[Path] = None) -> Dict[str, Skill]:
    """Every valid local skill by name (the first directory holding a name wins); invalid ones are skipped
    with a warning."""
    found: Dict[str, Skill] = {}
    for base in skill_search_dirs(cwd, home):
        if not base.is_dir():
            continue
        for sub in sorted(base.iterdir()):
            if sub.name in found or not (sub / SKILL_FILE).is_file():
                continue
            try:
                found[sub.name] = load_skill_dir(sub)
            except ConfigError as e:
                warnings.warn(f"{e}; skipped", UserWarning, stacklevel=2)
    return found


def find_skill(name: str, cwd: Optional[Path] = None, home: Optional[Path] = None) -> Skill:
    """The local skill ``name`` (first match wins); ``ConfigError`` listing the skills found if none."""
    if not NAME_RE.match(name):  # also keeps '../elsewhere' from reaching outside the skill directories
        raise ConfigError(
            f"Skill entry {name!r} is not a skill name (1-64 characters of [a-z0-9-]), a skill_… id or a SKILL.md URL"
        )
    dirs = skill_search_dirs(cwd, home)
    for base in dirs:
        if (base / name / SKILL_FILE).is_file():
            return load_skill_dir(base / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        available = sorted(discover_skills(cwd, home))
    raise ConfigError(
        f"Skill '{name}' not found in {[str(d) for d in dirs]}. Skills found: {available}. "
        f"Entries may also be Anthropic skill ids (skill_…) or SKILL.md URLs."
    )


def fetch_skill(url: str, timeout: float = FETCH_TIMEOUT) -> Optional[Skill]:
    """The SKILL.md at ``url``, or ``None`` after a warning if it cannot be fetched or is invalid."""
    parts = url.rstrip("/").split("/")
    directory_name = parts[-2] if len(parts) > 3 and parts[-1] == SKILL_FILE else None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only, checked
            text = response.read(MAX_FETCH_BYTES).decode("utf-8")
        return parse_skill(text, url, directory_name)
    except Exception as e:  # noqa: BLE001 - a remote skill never stops the tactic
        warnings.warn(f"Skill URL {url} skipped: {type(e).__name__}: {e}", UserWarning, stacklevel=3)
        return None


@dataclass
class SkillSet:
    """The skills of one agent: ``skills`` (local and URL, disclosed through the catalog and
    ``activate_skill``) and ``hosted`` (Anthropic skill ids, passed to the provider)."""

    skills: List[Skill] = field(default_factory=list)
    hosted: List[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.skills or self.hosted)

    def catalog(self) -> str:
        """The ``<available_skills>`` block for the system prompt."""
        entries = "".join(
            f"<skill>\n<name>{escape(s.name)}</name>\n<description>{escape(s.description)}"
            f"</description>\n<location>{escape(s.location)}</location>\n</skill>\n"
            for s in self.skills
        )
        return f"{CATALOG_INTRO}\n\n<available_skills>\n{entries}</available_skills>"

    def activate_tool(self) -> Function:
        """``activate_skill(name)``: the skill's instructions, directory and resource files."""
        by_name = {s.name: s for s in self.skills}

        def activate_skill(name: str) -> str:
            """Load a skill from <available_skills>: its full instructions, its directory and the resource
            files it provides. Call it before working on a task that matches the skill's description.

            Args:
                name: The skill's name, exactly as listed in <available_skills>.
            """
            skill = by_name.get(name)
            if skill is None:
                raise ValueError(f"no skill '{name}'. Available skills: {sorted(by_name)}")
            where = str(skill.directory) if skill.directory is not None else skill.location.rsplit("/", 1)[0]
            resources = "\n".join(skill.resources()) or "(none)"
            return (
                f'<skill name="{skill.name}">\n<directory>{where}</directory>\n'
                f"<resources>\n{resources}\n</resources>\n<instructions>\n{skill.body}\n</instructions>\n"
                f"</skill>"
            )

        fn = Function.from_callable(activate_skill, processor=_as_is)
        if by_name:  # the schema lists the names, so a model (the offline test model too) picks a real one
            fn.properties["name"] = {**fn.properties["name"], "enum": sorted(by_name)}
        return fn

    def apply(
        self, system_prompt: "Prompt | str", model_args: Optional[Dict[str, Any]] = None
    ) -> Tuple[Prompt, List[Function], Dict[str, Any]]:
        """``(system prompt, injected tools, model_args)`` for one agent; the inputs are not modified.

        Hosted ids join ``model_args['skills']`` with the beta header. Local and URL skills put the catalog
        at the end of a copy of the prompt, and ``activate_skill`` among that copy's tools (it is also
        returned, for callers that place tools themselves)."""
        args = dict(model_args or {})
        if self.hosted:
            listed = list(args.get("skills") or [])
            have = {s.get("id") if isinstance(s, dict) else s for s in listed}
            args["skills"] = [*listed, *({"id": i} for i in self.hosted if i not in have)]
            headers = dict(args.get("extra_headers") or {})
            key = next((k for k in headers if k.lower() == "anthropic-beta"), "anthropic-beta")
            betas = [b.strip() for b in str(headers.get(key) or "").split(",") if b.strip()]
            headers[key] = ",".join([*betas, SKILLS_BETA] if SKILLS_BETA not in betas else betas)
            args["extra_headers"] = headers
        if isinstance(system_prompt, str):
            system_prompt = Prompt(path="_inline/skills/system", prompt=system_prompt)
        if not self.skills:
            return system_prompt, [], args
        tool = self.activate_tool()
        if tool.name in system_prompt.functions or tool.name in system_prompt.function_refs:
            raise ConfigError(
                f"Prompt '{system_prompt.path}' already declares a tool '{tool.name}', which skills "
                f"need; rename it or remove the agent's skills."
            )
        block = self.catalog()
        if isinstance(system_prompt.renderer, StringFormatterRenderer):
            block = block.replace("{", "{{").replace("}", "}}")
        text = f"{system_prompt.prompt.rstrip()}\n\n{block}" if system_prompt.prompt.strip() else block
        prompt = system_prompt.extend(
            path=system_prompt.path, prompt=text, function_list=[*system_prompt.function_list, tool]
        )
        return prompt, [tool], args


def _as_is(result: Any, call: Any) -> str:
    return str(result)


def resolve_skills(
    spec_skills: Any,
    *,
    cwd: Optional[Path] = None,
    home: Optional[Path] = None,
    timeout: float = FETCH_TIMEOUT,
    cache: Optional[Dict[str, Optional[Skill]]] = None,
) -> SkillSet:
    """The ``SkillSet`` for an agent's ``skills:`` value (a list of entries, ``"*"``, or ``None``).

    ``cache`` (URL → skill) lets the agents of one tactic share a fetch. Raises ``ConfigError`` for a wrong
    type, an unknown local name or an invalid local SKILL.md."""
    if spec_skills is None:
        return SkillSet()
    entries = [spec_skills] if spec_skills == "*" else spec_skills
    if not isinstance(entries, list) or not all(isinstance(e, str) and e for e in entries):
        raise ConfigError(
            f'skills must be a list of skill names, skill_… ids or SKILL.md URLs, or "*"; got {spec_skills!r}'
        )
    cache = {} if cache is None else cache
    out = SkillSet()
    seen = set()
    for entry in entries:
        if entry.startswith(HOSTED_PREFIX):
            if entry not in out.hosted:
                out.hosted.append(entry)
            continue
        if entry == "*":
            found = list(discover_skills(cwd, home).values())
        elif entry.startswith(("http://", "https://")):
            if entry not in cache:
                cache[entry] = fetch_skill(entry, timeout)
            skill = cache[entry]
            found = [skill] if skill is not None else []
        else:
            found = [find_skill(entry, cwd, home)]
        for skill in found:
            if skill.name not in seen:
                seen.add(skill.name)
                out.skills.append(skill)
    return out


__all__ = [
    "Skill",
    "SkillSet",
    "resolve_skills",
    "parse_skill",
    "load_skill_dir",
    "discover_skills",
    "find_skill",
    "fetch_skill",
    "skill_search_dirs",
    "SKILLS_BETA",
    "SKILL_DIRS",
]
