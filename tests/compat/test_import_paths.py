"""Every name lllm-core 0.1.x documents or exports stays importable from its 0.1.x module (issue 10 §1).

DOCUMENTED: each ``from lllm… import X`` in lllm-core's README, docs, examples and tutorials (commit 6845bfa).
EXPORTED: the public names of 0.1.x's ``__init__``s, ``__all__``s and core modules."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import warnings

import pytest

DOCUMENTED = {
    "lllm": (
        "Agent LocalFileBackend LogStore NoOpBackend Prompt SQLiteBackend Tactic build_tactic  "
        "export_package get_default_runtime get_runtime install_package list_packages load_config  "
        "load_package load_prompt load_proxy load_resource load_runtime load_tactic remove_package  "
        "resolve_config vendor_config"
    ),
    "lllm.core.agent": "Agent",
    "lllm.core.config": "resolve_config",
    "lllm.core.const": "ParseError",
    "lllm.core.dialog": "ContextManager DefaultContextManager Dialog",
    "lllm.core.models": (
        "AgentCallState BaseHandler BaseRenderer DefaultTagParser Function Prompt  register_prompt tool"
    ),
    "lllm.core.prompt": "AgentCallSession DefaultSimpleHandler DefaultTagParser Function MCP Prompt tool",
    "lllm.core.resource": "ResourceNode",
    "lllm.core.runtime": "Runtime get_default_runtime",
    "lllm.core.tactic": "Tactic build_tactic",
    "lllm.invokers": "build_invoker",
    "lllm.invokers.base": "BaseInvoker BaseStreamHandler InvokeResult",
    "lllm.invokers.litellm": "LiteLLMInvoker",
    "lllm.logging": (
        "ColoredFormatter LocalFileBackend LogBackend LogStore SQLiteBackend local_store  "
        "noop_store setup_logging sqlite_store"
    ),
    "lllm.proxies": "BaseProxy Proxy ProxyManager ProxyRegistrator load_builtin_proxies",
    "lllm.proxies.interpreter": "AgentInterpreter",
    "lllm.sandbox.jupyter": "JupyterSession",
    "lllm.utils": "find_all_xml_tags_sorted",
}

EXPORTED = {
    "lllm": (
        "Runtime get_default_runtime set_default_runtime get_runtime load_runtime install_package  "
        "export_package list_packages remove_package ResourceNode PackageInfo load_prompt load_tactic  "
        "load_proxy load_config load_resource load_package find_config_file load_cwd_fallback  "
        "resolve_config AgentSpec parse_agent_configs Function FunctionCall MCP Prompt Message Dialog  "
        "Agent Tactic build_tactic register_tactic_class BaseProxy ProxyManager register_proxy  "
        "ProxyRegistrator LogStore LocalFileBackend SQLiteBackend NoOpBackend setup_logging"
    ),
    "lllm.core": (
        "Dialog Message Agent Tactic build_tactic register_tactic_class ResourceNode PackageInfo  "
        "load_prompt load_tactic load_proxy load_config load_resource resolve_config AgentSpec  "
        "parse_agent_configs AgentException AgentCallSession Function tool MCP BaseParser  "
        "DefaultTagParser BaseRenderer StringFormatterRenderer BaseHandler DefaultSimpleHandler  "
        "Prompt register_prompt"
    ),
    "lllm.core.config": (
        "find_config_file load_toml load_cwd_fallback load_package resolve_config  "
        "vendor_config AgentSpec parse_agent_configs"
    ),
    "lllm.core.const": "InvokeResult FunctionCall ParseError Roles Invokers Modalities APITypes InvokeCost",
    "lllm.core.dialog": "TokenLogprob Message DialogTreeNode Dialog ContextManager DefaultContextManager",
    "lllm.core.prompt": (
        "AgentException AgentCallSession Function FunctionCall tool MCP BaseParser  "
        "DefaultTagParser BaseRenderer StringFormatterRenderer BaseHandler  "
        "DefaultSimpleHandler Prompt register_prompt"
    ),
    "lllm.core.resource": "PackageInfo ResourceNode load_prompt load_tactic load_proxy load_config load_resource",
    "lllm.core.runtime": (
        "Runtime get_default_runtime set_default_runtime get_runtime load_runtime  "
        "install_package export_package list_packages remove_package"
    ),
    "lllm.core.tactic": "TacticCallSession register_tactic_class get_tactic_class build_tactic Tactic",
    "lllm.invokers": "register_invoker build_invoker InvokerBuilder",
    "lllm.invokers.base": "BaseStreamHandler BaseInvoker",
    "lllm.logging": (
        "LogBackend LocalFileBackend SQLiteBackend NoOpBackend LogStore SessionRecord  "
        "SessionSummary ColoredFormatter setup_logging local_store sqlite_store noop_store"
    ),
    "lllm.proxies": (
        "BaseProxy ProxyManager ProxyRegistrator register_proxy load_builtin_proxies  "
        "BUILTIN_PROXY_MODULES AgentInterpreter make_query_api_doc_tool make_run_python_tool  "
        "render_proxy_prompt DEFAULT_PROXY_PROMPT_TEMPLATE  "
        "DEFAULT_PROXY_PROMPT_NO_PYTHON_TEMPLATE"
    ),
    "lllm.proxies.base": "BaseProxy ProxyManager ProxyRegistrator register_proxy",
    "lllm.proxies.interpreter": "AgentInterpreter",
    "lllm.sandbox": "JupyterSession JupyterSandbox JupyterCellType ProgrammingLanguage",
    "lllm.sandbox.jupyter": "JupyterSession JupyterSandbox JupyterCellType ProgrammingLanguage",
    "lllm.utils": "find_all_xml_tags_sorted find_xml_blocks find_md_blocks load_json save_json",
}


def _pairs(table):
    return [(mod, name) for mod, names in table.items() for name in names.split()]


@pytest.mark.parametrize("module,name", _pairs(DOCUMENTED) + _pairs(EXPORTED))
def test_name_imports_from_its_0_1_x_module(module, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        namespace: dict = {}
        exec(f"from {module} import {name}", namespace)  # the statement a 0.1.x user wrote
    assert namespace[name] is getattr(importlib.import_module(module), name)


def test_reexports_are_the_same_objects_as_the_new_homes():
    from lllm import core, errors
    from lllm.core import const, context, dialog, message, packages, prompt, runtime, sessions

    assert const.ParseError is errors.ParseError and const.InvokeCost is message.InvokeCost
    assert dialog.DefaultContextManager is context.DefaultContextManager
    assert prompt.AgentCallSession is sessions.AgentCallSession and core.Prompt is prompt.Prompt
    assert runtime.install_package is packages.install_package


def test_unknown_name_still_raises_attribute_error():
    from lllm.core import const

    with pytest.raises(AttributeError, match="lllm.core.const.*no_such_name"):
        const.no_such_name  # noqa: B018


def test_compat_helpers_behave_as_in_0_1_x(tmp_path):
    from lllm.core.const import Invokers
    from lllm.core.prompt import Prompt, register_prompt
    from lllm.core.runtime import Runtime
    from lllm.core.tactic import Tactic, get_tactic_class
    from lllm.utils import find_all_xml_tags_sorted, find_md_blocks, find_xml_blocks, load_json, save_json

    assert Invokers.LITELLM == "litellm" and isinstance(Invokers.LITELLM, str)
    rt = Runtime()
    register_prompt(Prompt(path="compat/sys", prompt="Hi"), runtime=rt)
    assert rt.get_prompt("compat/sys").prompt == "Hi"
    tags = find_all_xml_tags_sorted("<b> 2 </b> then <a>1</a>")
    assert [(t["tag"], t["content"]) for t in tags] == [("b", "2"), ("a", "1")] and tags[0]["pos"] == 0
    assert find_xml_blocks("<x>1</x><x>2</x>", "x") == ["1", "2"]
    assert find_md_blocks("```python\nprint(1)\n```\n```json\n{}\n```", "python") == ["print(1)"]
    save_json(tmp_path / "a.json", {"k": 1})
    assert load_json(tmp_path / "a.json") == {"k": 1} and load_json(tmp_path / "none.json") == {}
    with pytest.raises(FileNotFoundError):
        load_json(tmp_path / "none.json", default=None)

    class Hello(Tactic):
        name = "compat_hello"
        agent_group = []

        def call(self, task: str) -> str:
            return task

    rt.register_tactic("compat_hello", Hello)
    assert get_tactic_class("compat_hello", runtime=rt) is Hello


def test_old_paths_keep_import_lllm_cheap():
    code = (
        "import sys, json, lllm, lllm.core, lllm.core.const, lllm.core.models, lllm.utils\n"
        "print(json.dumps([m for m in ('aiohttp', 'genai_prices', 'litellm', 'openai', 'jsonschema', "
        "'lllm.core.agent', 'lllm.core.tactic', 'lllm.invokers.base') if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"LLLM_AUTO_INIT": "0", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
