"""LLLM: build LLM agentic systems like ordinary software.

Four layers: Tactic (the program) → Agent (the caller) → Prompt (the function) → Dialog (the state).
Public names are imported lazily on first use, so ``import lllm`` stays cheap."""

from __future__ import annotations

import importlib
import logging as _logging
from typing import TYPE_CHECKING, Any, List

from lllm._version import __version__ as __version__

# A library adds only a NullHandler; applications configure output (see lllm.setup_logging).
_logging.getLogger("lllm").addHandler(_logging.NullHandler())

from lllm.compat import install_module_aliases as _install_module_aliases  # noqa: E402

_install_module_aliases()  # 0.1.x module paths (lllm.core.runtime, ...) name the modules that moved

from lllm import _wiring  # noqa: E402,F401 - hands core its runtime, invokers and store (lllm.core.wiring)

_EXPORTS = {
    # errors
    "LLLMError": "lllm.errors",
    "ParseError": "lllm.errors",
    "AgentException": "lllm.errors",
    "AgentCallError": "lllm.errors",
    "ConfigError": "lllm.errors",
    "ResourceNotFoundError": "lllm.errors",
    "ToolBindingError": "lllm.errors",
    "PackageError": "lllm.errors",
    "ProxyError": "lllm.errors",
    "ProviderError": "lllm.errors",
    # values
    "Roles": "lllm.core.const",
    "Modalities": "lllm.core.const",
    "APITypes": "lllm.core.const",
    "Message": "lllm.core.message",
    "FunctionCall": "lllm.core.message",
    "InvokeCost": "lllm.core.message",
    "TokenLogprob": "lllm.core.message",
    # dialog
    "Dialog": "lllm.core.dialog",
    "DialogTreeNode": "lllm.core.dialog",
    "ContextManager": "lllm.core.context",
    "DefaultContextManager": "lllm.core.context",
    # prompt
    "Prompt": "lllm.core.prompt",
    "Function": "lllm.core.tools",
    "tool": "lllm.core.tools",
    "MCP": "lllm.core.tools",
    "BaseParser": "lllm.core.parsers",
    "DefaultTagParser": "lllm.core.parsers",
    "BaseRenderer": "lllm.core.prompt",
    "StringFormatterRenderer": "lllm.core.prompt",
    "BaseHandler": "lllm.core.prompt",
    "DefaultSimpleHandler": "lllm.core.prompt",
    "DefaultHandler": "lllm.core.prompt",
    # agent and tactic
    "Agent": "lllm.core.agent",
    "AgentCallSession": "lllm.core.sessions",
    "InvokeTrace": "lllm.core.sessions",
    "Tactic": "lllm.core.tactic",
    "TacticCallSession": "lllm.core.sessions",
    "build_tactic": "lllm.core.tactic",
    "register_tactic_class": "lllm.core.tactic",
    "tactic": "lllm.core.functional",
    "BaseStreamHandler": "lllm.core.stream",
    "PrintStreamHandler": "lllm.core.stream",
    "current_session": "lllm.core.call_context",
    # live call events
    "observe": "lllm.core.events",
    "Event": "lllm.core.events",
    "AgentCallStarted": "lllm.core.events",
    "AgentCallFinished": "lllm.core.events",
    "InvokeFinished": "lllm.core.events",
    "RetryScheduled": "lllm.core.events",
    "ToolCallStarted": "lllm.core.events",
    "ToolCallFinished": "lllm.core.events",
    "SubTacticStarted": "lllm.core.events",
    "SubTacticFinished": "lllm.core.events",
    # configuration and runtime
    "AgentSpec": "lllm.core.spec",
    "parse_agent_configs": "lllm.core.spec",
    "deep_merge": "lllm.core.spec",
    "Runtime": "lllm.packages.runtime",
    "get_default_runtime": "lllm.packages.runtime",
    "set_default_runtime": "lllm.packages.runtime",
    "get_runtime": "lllm.packages.runtime",
    "ResourceNode": "lllm.packages.resource",
    "PackageInfo": "lllm.packages.resource",
    # invokers
    "BaseInvoker": "lllm.invokers.base",
    "InvokeResult": "lllm.core.protocols",
    "build_invoker": "lllm.invokers.base",
    "register_invoker": "lllm.invokers.base",
    # logging
    "setup_logging": "lllm.logging",
    "LogStore": "lllm.logging",
    "SessionRecord": "lllm.logging",
    "SessionSummary": "lllm.logging",
    "LogBackend": "lllm.logging",
    "LocalFileBackend": "lllm.logging",
    "SQLiteBackend": "lllm.logging",
    "NoOpBackend": "lllm.logging",
    "PostgresBackend": "lllm.logging",
    "local_store": "lllm.logging",
    "sqlite_store": "lllm.logging",
    "noop_store": "lllm.logging",
    "postgres_store": "lllm.logging",
    # packages, configuration, package and tactic tools
    "load_runtime": "lllm.packages.discovery",
    "load_package": "lllm.packages.discovery",
    "find_config_file": "lllm.packages.manifest",
    "load_cwd_fallback": "lllm.packages.discovery",
    "load_prompt": "lllm.packages.runtime",
    "load_tool": "lllm.packages.runtime",
    "load_tactic": "lllm.packages.runtime",
    "load_proxy": "lllm.packages.runtime",
    "load_resource": "lllm.packages.runtime",
    "load_config": "lllm.packages.config",
    "resolve_config": "lllm.packages.config",
    "vendor_config": "lllm.packages.config",
    "resolve_profile": "lllm.packages.config",
    "agent_config_schema": "lllm.core.spec",
    "install_package": "lllm.packages.install",
    "export_package": "lllm.packages.install",
    "list_packages": "lllm.packages.install",
    "remove_package": "lllm.packages.install",
    "tactictool": "lllm.core.tactic_tools",
    "build_tactic_function": "lllm.core.tactic_tools",
    "build_tactic_endpoint_info": "lllm.core.tactic_tools",
    "call_tactic_proxy_endpoint": "lllm.core.tactic_tools",
    # proxies and the sandbox
    "BaseProxy": "lllm.proxies",
    "ProxyManager": "lllm.proxies",
    "Proxy": "lllm.proxies",
    "ProxyRegistrator": "lllm.proxies",
    "register_proxy": "lllm.proxies",
    "load_builtin_proxies": "lllm.proxies",
    "AgentInterpreter": "lllm.sandbox",
    "JupyterSession": "lllm.sandbox.jupyter",
    "MCPServer": "lllm.mcp",
    # replay and tracing
    "rerun": "lllm.logging.replay",
    "use_invoker": "lllm.core.call_context",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs; `X as X` marks a re-export
    from lllm.core.agent import Agent as Agent
    from lllm.core.call_context import current_session as current_session, use_invoker as use_invoker
    from lllm.core.const import APITypes as APITypes, Modalities as Modalities, Roles as Roles
    from lllm.core.context import ContextManager as ContextManager, DefaultContextManager as DefaultContextManager
    from lllm.core.dialog import Dialog as Dialog, DialogTreeNode as DialogTreeNode
    from lllm.core.events import (
        AgentCallFinished as AgentCallFinished,
        AgentCallStarted as AgentCallStarted,
        Event as Event,
        InvokeFinished as InvokeFinished,
        RetryScheduled as RetryScheduled,
        SubTacticFinished as SubTacticFinished,
        SubTacticStarted as SubTacticStarted,
        ToolCallFinished as ToolCallFinished,
        ToolCallStarted as ToolCallStarted,
        observe as observe,
    )
    from lllm.core.functional import tactic as tactic
    from lllm.core.message import (
        FunctionCall as FunctionCall,
        InvokeCost as InvokeCost,
        Message as Message,
        TokenLogprob as TokenLogprob,
    )
    from lllm.core.parsers import BaseParser as BaseParser, DefaultTagParser as DefaultTagParser
    from lllm.core.prompt import (
        BaseHandler as BaseHandler,
        BaseRenderer as BaseRenderer,
        DefaultHandler as DefaultHandler,
        DefaultSimpleHandler as DefaultSimpleHandler,
        Prompt as Prompt,
        StringFormatterRenderer as StringFormatterRenderer,
    )
    from lllm.core.protocols import InvokeResult as InvokeResult
    from lllm.core.sessions import (
        AgentCallSession as AgentCallSession,
        InvokeTrace as InvokeTrace,
        TacticCallSession as TacticCallSession,
    )
    from lllm.core.spec import (
        AgentSpec as AgentSpec,
        agent_config_schema as agent_config_schema,
        deep_merge as deep_merge,
        parse_agent_configs as parse_agent_configs,
    )
    from lllm.core.stream import BaseStreamHandler as BaseStreamHandler, PrintStreamHandler as PrintStreamHandler
    from lllm.core.tactic import (
        Tactic as Tactic,
        build_tactic as build_tactic,
        register_tactic_class as register_tactic_class,
    )
    from lllm.core.tactic_tools import (
        build_tactic_endpoint_info as build_tactic_endpoint_info,
        build_tactic_function as build_tactic_function,
        call_tactic_proxy_endpoint as call_tactic_proxy_endpoint,
        tactictool as tactictool,
    )
    from lllm.core.tools import MCP as MCP, Function as Function, tool as tool
    from lllm.errors import (
        AgentCallError as AgentCallError,
        AgentException as AgentException,
        ConfigError as ConfigError,
        LLLMError as LLLMError,
        PackageError as PackageError,
        ParseError as ParseError,
        ProviderError as ProviderError,
        ProxyError as ProxyError,
        ResourceNotFoundError as ResourceNotFoundError,
        ToolBindingError as ToolBindingError,
    )
    from lllm.invokers.base import (
        BaseInvoker as BaseInvoker,
        build_invoker as build_invoker,
        register_invoker as register_invoker,
    )
    from lllm.logging import (
        LocalFileBackend as LocalFileBackend,
        LogBackend as LogBackend,
        LogStore as LogStore,
        NoOpBackend as NoOpBackend,
        PostgresBackend as PostgresBackend,
        SessionRecord as SessionRecord,
        SessionSummary as SessionSummary,
        SQLiteBackend as SQLiteBackend,
        local_store as local_store,
        noop_store as noop_store,
        postgres_store as postgres_store,
        setup_logging as setup_logging,
        sqlite_store as sqlite_store,
    )
    from lllm.logging.replay import rerun as rerun
    from lllm.mcp import MCPServer as MCPServer
    from lllm.packages.config import (
        load_config as load_config,
        resolve_config as resolve_config,
        resolve_profile as resolve_profile,
        vendor_config as vendor_config,
    )
    from lllm.packages.discovery import (
        load_cwd_fallback as load_cwd_fallback,
        load_package as load_package,
        load_runtime as load_runtime,
    )
    from lllm.packages.install import (
        export_package as export_package,
        install_package as install_package,
        list_packages as list_packages,
        remove_package as remove_package,
    )
    from lllm.packages.manifest import find_config_file as find_config_file
    from lllm.packages.resource import PackageInfo as PackageInfo, ResourceNode as ResourceNode
    from lllm.packages.runtime import (
        Runtime as Runtime,
        get_default_runtime as get_default_runtime,
        get_runtime as get_runtime,
        load_prompt as load_prompt,
        load_proxy as load_proxy,
        load_resource as load_resource,
        load_tactic as load_tactic,
        load_tool as load_tool,
        set_default_runtime as set_default_runtime,
    )
    from lllm.proxies import (
        BaseProxy as BaseProxy,
        Proxy as Proxy,
        ProxyManager as ProxyManager,
        ProxyRegistrator as ProxyRegistrator,
        load_builtin_proxies as load_builtin_proxies,
        register_proxy as register_proxy,
    )
    from lllm.sandbox import AgentInterpreter as AgentInterpreter
    from lllm.sandbox.jupyter import JupyterSession as JupyterSession


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lllm' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return __all__


_FALSY = ("0", "false", "no", "off")


def _flag(env: Any, name: str) -> bool:
    return env.get(name, "").strip().lower() not in _FALSY


def _something_to_load() -> bool:
    """Cheap (``os`` only): is there a manifest, a standard folder or a drop-in folder for auto-init?"""
    import os

    env, path = os.environ, os.path
    if env.get("LLLM_CONFIG"):
        return True
    here = cwd = os.getcwd()
    while True:
        if any(path.isfile(path.join(here, n)) for n in ("lllm.toml", ".lllm.toml", "LLLM.toml")):
            return True
        if path.dirname(here) == here:
            break
        here = path.dirname(here)
    if _flag(env, "LLLM_AUTO_CWD_FALLBACK") and any(
        path.isdir(path.join(cwd, s)) for s in ("prompts", "tools", "proxies", "configs", "tactics")
    ):
        return True
    home = path.expanduser(env.get("LLLM_HOME") or "~/.lllm")
    return _flag(env, "LLLM_AUTO_SHARED_PACKAGES") and (
        path.isdir(path.join(cwd, "lllm_packages")) or path.isdir(path.join(home, "packages"))
    )


def _auto_init() -> None:
    """Fill the default runtime from the project's packages (§6.5); never breaks ``import lllm``."""
    import os
    import sys

    if not _flag(os.environ, "LLLM_AUTO_INIT"):
        return
    if sys.argv and os.path.basename(sys.argv[0]) == "lllm":  # the CLI loads only when a command needs it
        return
    try:
        if _something_to_load():
            from lllm.packages.discovery import auto_init

            auto_init()
    except Exception as e:  # noqa: BLE001 - a broken package must not break the import
        import warnings

        warnings.warn(f"LLLM auto-init failed: {type(e).__name__}: {e}", RuntimeWarning, stacklevel=2)


_auto_init()
