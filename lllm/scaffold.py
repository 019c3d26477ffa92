"""``lllm create NAME``: a new package whose test passes at once (offline, on the test model).

It holds a manifest, a tactic with one agent, a package tool, a prompt file, a config and a pytest
test; ``lllm run NAME.tactics:NAME "a topic"`` runs it from inside the folder."""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict

_NAME = re.compile(r"[a-z][a-z0-9_]*")

FILES: Dict[str, str] = {
    "lllm.toml": """
        [package]
        name = "{name}"
        version = "0.1.0"
        description = "A tactic that drafts a short note on a topic."
    """,
    "prompts/system.md": """
        You write short, clear notes. Use the tools you are given when they help.
    """,
    "tools/word_count.py": '''
        from lllm import tool


        @tool
        def word_count(text: str) -> int:
            """Count the words of a text.

            Args:
                text: The text to count.
            """
            return len(text.split())
    ''',
    "tactics/{name}.py": '''
        """The {name} tactic: one agent drafts a note on a topic and returns it typed."""
        from pydantic import BaseModel, Field

        from lllm import Prompt, Tactic


        class Note(BaseModel):
            topic: str
            text: str = Field(description="Two or three sentences on the topic")


        draft = Prompt(path="{name}/draft", prompt="Write a short note on {{topic}}.",
                       function_list=["{name}.tools:word_count"], format=Note)


        class {cls}(Tactic):
            """Draft a short note on a topic."""

            name = "{name}"
            agent_group = ["writer"]

            def call(self, task: str) -> Note:
                writer = self.agents["writer"]
                writer.open("draft")
                writer.receive_prompt(draft, {{"topic": task}})
                return writer.respond().parsed_as(Note)
    ''',
    "configs/default.yaml": """
        # Every agent of the tactic; `lllm run` uses the offline test model when no provider key is set.
        global:
          model_name: gpt-4o-mini
        agent_configs:
          - name: writer
            system_prompt_path: {name}.prompts:system
    """,
    "tests/test_{name}.py": '''
        """Runs the tactic offline on LLLM's deterministic test model: no key, no network."""
        from pathlib import Path

        import lllm

        ROOT = Path(__file__).resolve().parents[1]


        def test_{name}_drafts_a_typed_note():
            rt = lllm.load_runtime(ROOT / "lllm.toml", name="test-{name}")
            config = lllm.resolve_config("{name}.configs:default", runtime=rt)
            config["global"]["model_name"] = "test"
            tactic = lllm.build_tactic(config, name="{name}.tactics:{name}", runtime=rt)
            session = tactic("tide pools", return_session=True)
            assert session.state == "success"
            assert session.delivery.text
    ''',
}


def create_package(name: str, parent: "str | Path" = ".") -> Path:
    """Write the package ``name`` into ``parent/name`` and return its folder. Refuses a bad name or an
    existing, non-empty folder (nothing is overwritten)."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"Package name {name!r} must be lower-case letters, digits and '_', starting with a "
            f"letter (it becomes a Python module name), e.g. 'research_notes'."
        )
    root = Path(parent) / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"'{root}' already exists and is not empty; pick another name or folder.")
    cls = "".join(part.title() for part in name.split("_")) or "Main"
    for rel, text in FILES.items():
        path = root / rel.format(name=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n").format(name=name, cls=cls), encoding="utf-8")
    return root


def cmd_create(args: argparse.Namespace) -> int:
    from lllm.cli import CLIError

    try:
        root = create_package(args.name, args.dir)
    except (ValueError, FileExistsError) as e:
        raise CLIError(str(e)) from None
    print(
        f"Created package '{args.name}' in {root}. Next:\n  cd {root}\n"
        f"  lllm run {args.name}.tactics:{args.name} 'tide pools'\n  python -m pytest -q",
        file=sys.stderr,
    )
    return 0


def register(sub: Any) -> None:
    """Add ``create`` to the ``lllm`` command."""
    p = sub.add_parser(
        "create",
        help="scaffold a new package (manifest, tactic, tool, prompt, config, test)",
        description="Create a package folder NAME whose test passes at once, offline.",
    )
    p.add_argument("name", help="package name (lower-case, digits and '_')")
    p.add_argument("--dir", default=".", help="where to create it (default: the current folder)")
    p.set_defaults(func=cmd_create)


__all__ = ["create_package", "register"]
