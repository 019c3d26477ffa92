"""Discovery: exact keys per section, `under` prefixes, prompt files, lazy configs and custom files,
only-defined-objects registration, module names, and the warnings for broken files."""

from __future__ import annotations

import sys
import warnings

import pytest
from support.pkgtree import write_tree

from lllm import Function, Prompt, Runtime, Tactic, get_default_runtime, load_package
from lllm.errors import ConfigError, PackageError

DEMO = {
    "lllm.toml": """
        [package]
        name = "demo"
        version = "0.3.0"

        [tactics]
        paths = ["tactics under team"]

        [assets]
        paths = ["assets"]
    """,
    "prompts/common.py": """
        from lllm import Prompt
        base = Prompt(path="base", prompt="Base {x}")
    """,
    "prompts/agents/writer.py": """
        from lllm import Prompt
        from lllm.core.prompt import Prompt as Again
        from .. import common
        from ..common import base
        system = Prompt(path="system", prompt="You write.")
        nested = Prompt(path="deep/one", prompt="Nested.")
        same = system
    """,
    "prompts/greet.md": """
        ---
        title: Greeting
        tags: [a, b]
        ---
        Hello {name}!
    """,
    "prompts/notes/plain.txt": "Plain {{braces}} text\n",
    "prompts/_private.md": "skipped",
    "prompts/.hidden.md": "skipped",
    "prompts/README.rst": "not a prompt file",
    "tools/search.py": """
        from lllm import tool

        @tool
        def search(q: str) -> str:
            \"\"\"Search.\"\"\"
            return "found " + q
    """,
    "tools/web.py": """
        from lllm import tool
        from .search import search

        @tool
        def fetch(url: str) -> str:
            \"\"\"Fetch.\"\"\"
            return url

        @tool
        def head(url: str) -> str:
            \"\"\"Head.\"\"\"
            return url
    """,
    "tools/net/ping.py": """
        from lllm import tool

        @tool
        def ping(host: str) -> str:
            \"\"\"Ping.\"\"\"
            return host
    """,
    "tactics/echo.py": """
        from lllm import Tactic

        class Hidden(Tactic, register=False):
            name = "hidden"

        class Echo(Hidden):
            \"\"\"Echo.\"\"\"
            name = "echo"
            def call(self, task: str) -> str:
                return task.upper()
    """,
    "configs/default.yaml": "tactic_type: echo\nglobal: {model_name: test}\n",
    "configs/sub/other.yml": "x: 1\n",
    "configs/notes.txt": "ignored",
    "assets/data.json": '{"k": [1, 2]}',
    "assets/cfg.yaml": "a: 1\n",
    "assets/cfg.toml": "b = 2\n",
    "assets/img/logo.bin": "raw",
    "assets/extra.py": """
        from lllm import Prompt
        card = Prompt(path="card", prompt="Card")
    """,
}


@pytest.fixture
def demo(tmp_path):
    root = write_tree(tmp_path / "demo", DEMO)
    rt = Runtime("demo")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = load_package(root, runtime=rt)
    return rt, info, root


def test_exact_keys_of_every_section(demo):
    rt, info, root = demo
    assert (info.name, info.version, info.base_dir) == ("demo", "0.3.0", str(root.resolve()))
    assert rt.keys() == [
        "demo.assets:cfg.toml",
        "demo.assets:cfg.yaml",
        "demo.assets:data.json",
        "demo.assets:extra/card",
        "demo.assets:img/logo.bin",
        "demo.configs:default",
        "demo.configs:sub/other",
        "demo.prompts:agents/writer/deep/one",
        "demo.prompts:agents/writer/system",
        "demo.prompts:common/base",
        "demo.prompts:greet",
        "demo.prompts:notes/plain",
        "demo.tactics:team/echo",
        "demo.tools:net/ping",
        "demo.tools:search",
        "demo.tools:web/fetch",
        "demo.tools:web/head",
    ]
    assert rt.default_namespace == "demo" and list(rt.packages) == ["demo"]


def test_prompt_files_and_python_prompts(demo):
    rt, _, root = demo
    greet = rt.get_prompt("greet")
    assert (greet.path, greet.prompt, greet.metadata) == (
        "greet",
        "Hello {name}!\n",
        {"title": "Greeting", "tags": ["a", "b"]},
    )
    assert greet.qualified_key == "demo.prompts:greet"
    assert rt.get_prompt("notes/plain")() == "Plain {braces} text\n"
    writer = rt.get_prompt("demo:agents/writer/system")
    assert writer.path == "system" and writer.qualified_key == "demo.prompts:agents/writer/system"
    assert rt.get_node("greet", "prompt").metadata["file_path"] == str((root / "prompts/greet.md").resolve())


def test_only_objects_defined_in_a_module_are_registered(demo):
    rt, _, _ = demo
    # writer.py imports `base` from common.py: it is registered once, under common
    assert [k for k in rt.keys("prompt") if k.endswith("/base")] == ["demo.prompts:common/base"]
    # web.py imports `search`: not registered as web/search
    assert "demo.tools:web/search" not in rt.keys("tool")
    assert rt.get_tool("search") is sys.modules["lllm._discovered.demo.tools.web"].search
    # a register=False base class is not registered
    assert rt.keys("tactic") == ["demo.tactics:team/echo"]


def test_modules_are_named_by_package_section_and_path(demo):
    rt, _, root = demo
    mod = sys.modules["lllm._discovered.demo.prompts.agents.writer"]
    assert mod.__file__ == str(root / "prompts/agents/writer.py")
    assert "lllm._discovered.demo.tools.net.ping" in sys.modules
    echo = rt.get_tactic("team/echo")
    assert echo.__module__ == "lllm._discovered.demo.tactics.echo"
    assert echo.name == "echo"


def test_tactics_register_into_the_loading_runtime_only(demo):
    rt, _, _ = demo
    assert not get_default_runtime().has("demo.tactics:team/echo")
    assert rt.get_node("team/echo", "tactic").namespace == "demo.tactics"


def test_configs_and_custom_files_are_lazy(demo):
    rt, _, root = demo
    node = rt.get_node("demo.configs:default")
    assert node.resource_type == "config" and not node.loaded
    assert rt.get_config("default") == {"tactic_type": "echo", "global": {"model_name": "test"}}
    assert node.loaded
    assert rt.get("demo.assets:data.json") == {"k": [1, 2]}
    assert rt.get("demo.assets:cfg.yaml") == {"a": 1}
    assert rt.get("demo.assets:cfg.toml") == {"b": 2}
    assert rt.get("demo.assets:img/logo.bin") == b"raw"
    assert rt.get("assets:img/logo.bin") == b"raw"  # section:key in the default package
    logo = rt.get_node("demo.assets:img/logo.bin")
    assert logo.resource_type == "assets" and logo.metadata["file_path"] == str(
        (root / "assets/img/logo.bin").resolve()
    )
    card = rt.get_node("demo.assets:extra/card")
    assert card.resource_type == "prompt" and isinstance(card.value, Prompt)


def test_bad_yaml_config_fails_when_used_naming_the_file(tmp_path):
    root = write_tree(tmp_path / "p", {"lllm.toml": "", "configs/broken.yaml": "a: [1, 2\n"})
    rt = Runtime("t")
    load_package(root, runtime=rt)
    with pytest.raises(ConfigError, match=rf"{root / 'configs/broken.yaml'}: not valid YAML"):
        rt.get_config("broken")
    assert not rt.get_node("broken", "config").loaded


def test_import_errors_warn_naming_the_file_and_the_rest_loads(tmp_path):
    root = write_tree(
        tmp_path / "p",
        {
            "lllm.toml": "",
            "tools/bad.py": "raise RuntimeError('boom')\n",
            "tools/syntax.py": "def (:\n",
            "tools/good.py": "from lllm import tool\n\n@tool\ndef good(x: int) -> int:\n    'Good.'\n    return x\n",
        },
    )
    rt = Runtime("t")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_package(root, runtime=rt)
    messages = [str(w.message) for w in caught if w.category is RuntimeWarning]
    assert messages[0] == f"{root / 'tools/bad.py'}: import failed: RuntimeError: boom; file skipped"
    assert messages[1].startswith(f"{root / 'tools/syntax.py'}: import failed: SyntaxError: ")
    assert rt.keys("tool") == ["p.tools:good"]
    assert "lllm._discovered.p.tools.bad" not in sys.modules
    with pytest.raises(PackageError, match="bad.py: import failed: RuntimeError: boom"):
        load_package(root, runtime=Runtime("strict"), strict=True)


def test_key_collisions_warn_with_both_sources_and_the_later_wins(tmp_path):
    root = write_tree(
        tmp_path / "p",
        {
            "lllm.toml": '[prompts]\npaths = ["a", "b"]\n',
            "a/x.md": "from a",
            "b/x.md": "from b",
        },
    )
    rt = Runtime("t")
    with pytest.warns(RuntimeWarning) as rec:
        load_package(root, runtime=rt)
    assert str(rec[0].message) == (
        f"Resource key 'p.prompts:x' is defined twice: in {root / 'a/x.md'} and in "
        f"{root / 'b/x.md'}; the later one wins"
    )
    assert rt.get_prompt("x").prompt == "from b"


def test_odd_file_names_and_invalid_prompt_files_are_skipped_with_a_warning(tmp_path):
    root = write_tree(
        tmp_path / "p",
        {
            "lllm.toml": "",
            "prompts/my notes.md": "x",
            "prompts/ok.md": "fine",
            "prompts/braces.md": 'JSON like {"a": 1}',
            "prompts/front.md": "---\n- a list\n---\nbody",
        },
    )
    rt = Runtime("t")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_package(root, runtime=rt)
    messages = sorted(str(w.message) for w in caught)
    assert messages[0].startswith(f"{root / 'prompts/braces.md'}: not a valid prompt: Prompt 'braces': ")
    assert "double literal braces" in messages[0]
    assert messages[1] == f"{root / 'prompts/front.md'}: front matter must be a mapping, got list; prompt skipped"
    assert messages[2] == (
        f"{root / 'prompts/my notes.md'}: the name 'my notes.md' cannot be part of a resource key "
        f"(use letters, digits, '.', '_' and '-'); file skipped"
    )
    assert rt.keys() == ["p.prompts:ok"]


def test_reloading_a_package_into_another_runtime_gives_fresh_objects(tmp_path):
    root = write_tree(
        tmp_path / "p",
        {
            "lllm.toml": "",
            "tactics/t.py": "from lllm import Tactic\n\nclass T(Tactic):\n    name = 't'\n    def call(self, task):\n        return task\n",
        },
    )
    a, b = Runtime("a"), Runtime("b")
    load_package(root, runtime=a)
    load_package(root, runtime=b)
    assert a.get_tactic("t") is not b.get_tactic("t")
    assert issubclass(a.get_tactic("t"), Tactic)


def test_tools_keys_follow_function_names(tmp_path):
    root = write_tree(
        tmp_path / "p",
        {
            "lllm.toml": '[tools]\npaths = ["tools under kit"]\n',
            "tools/lookup.py": """
            from lllm import Function
            header = Function(name="lookup", description="Look up.", properties={"q": {"type": "string"}})
            other = Function(name="other", description="Other.", properties={})
        """,
        },
    )
    rt = Runtime("t")
    load_package(root, runtime=rt)
    assert rt.keys() == ["p.tools:kit/lookup", "p.tools:kit/lookup/other"]
    assert isinstance(rt.get_tool("kit/lookup"), Function)


def test_imported_names_are_read_from_bytecode():
    from lllm.packages.discovery import imported_names

    code = compile(
        "import os\nimport os.path as osp\nfrom x import (a,\n b as c)\nfrom y import d\nd = d.extend()\n"
        "if True:\n    from z import e\nf = 1\n",
        "m.py",
        "exec",
    )
    assert imported_names(code) == {"os", "osp", "a", "c", "e"}  # `d` is rebound here, so it is defined here
