"""Proxies: API surfaces agents use from code (``CALL_API``), with their documentation.

``BaseProxy`` + ``@BaseProxy.endpoint`` define one; ``@ProxyRegistrator`` registers it; ``ProxyManager``
(alias ``Proxy``) activates and dispatches; ``build_proxy_surface`` turns an agent's ``proxy:`` block into
the ``query_api_doc``/``run_python`` tools and a system-prompt block. Code runs in ``lllm.sandbox``."""

from __future__ import annotations

from lllm.proxies.agent_surface import (
    DEFAULT_PROXY_PROMPT_NO_PYTHON_TEMPLATE,
    DEFAULT_PROXY_PROMPT_TEMPLATE,
    ProxySurface,
    build_proxy_surface,
    make_query_api_doc_tool,
    make_run_python_tool,
    proxy_settings,
    render_proxy_prompt,
    split_proxy_tools,
)
from lllm.proxies.base import BUILTIN_PROXY_MODULES, BaseProxy, ProxyRegistrator, load_builtin_proxies, register_proxy
from lllm.proxies.manager import Proxy, ProxyLookupError, ProxyManager
from lllm.sandbox import AgentInterpreter

__all__ = [
    "BaseProxy",
    "ProxyRegistrator",
    "register_proxy",
    "load_builtin_proxies",
    "BUILTIN_PROXY_MODULES",
    "ProxyManager",
    "Proxy",
    "ProxyLookupError",
    "AgentInterpreter",
    "build_proxy_surface",
    "ProxySurface",
    "proxy_settings",
    "render_proxy_prompt",
    "split_proxy_tools",
    "make_query_api_doc_tool",
    "make_run_python_tool",
    "DEFAULT_PROXY_PROMPT_TEMPLATE",
    "DEFAULT_PROXY_PROMPT_NO_PYTHON_TEMPLATE",
]
