"""What a ``proxy:`` block gives an agent: a ``ProxyManager``, the tools ``query_api_doc`` and (in
interpreter mode) ``run_python``, and a system-prompt block with the API directory and the rules.

``build_proxy_surface`` is called once per agent instance (``AgentSpec.build``); each agent gets its
own manager and interpreter, and the worker process starts only when ``run_python`` first runs."""

from __future__ import annotations

import string
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from lllm.core.prompt import Function, Prompt, StringFormatterRenderer
from lllm.errors import ConfigError
from lllm.packages.runtime import Runtime
from lllm.proxies.manager import ProxyLookupError, ProxyManager
from lllm.sandbox import BACKENDS, AgentInterpreter

EXEC_ENVS = ("interpreter", "jupyter", None)
PROXY_DEFAULTS: Dict[str, Any] = {
    "activate_proxies": [],
    "deploy_mode": False,
    "cutoff_date": None,
    "exec_env": "interpreter",
    "max_output_chars": 5000,
    "truncation_indicator": "... (truncated)",
    "timeout": 60.0,
    "prompt_template": None,
    "backend": "auto",
    "max_memory_mb": None,
}
TEMPLATE_FIELDS = frozenset({"api_directory", "max_output_chars", "truncation_indicator"})

DEFAULT_PROXY_PROMPT_TEMPLATE = """\
## Data APIs

You can query the APIs below by writing Python for the `run_python` tool. Its interpreter is persistent \
(variables and imports survive between calls) and has `CALL_API(path, params)` ready to use: `path` is \
"<proxy id>/<endpoint>", `params` a dict, and it returns the response as Python data (it raises KeyError, \
ValueError, ... on a wrong path or a missing parameter).

Rules:
1. Before using a proxy for the first time, call `query_api_doc` with its id to read its endpoints, \
parameters and response shapes. Do not guess parameter names.
2. Only what you print comes back: stdout and stderr, in order. The value of the last expression is not shown.
3. Output longer than {max_output_chars} characters is cut and ends with "{truncation_indicator}": print \
summaries and the rows you need, not whole responses.
4. An exception comes back as a traceback: read it, fix the code and try again.
5. Base your answer on data you fetched; say so when the APIs do not have it.

### API directory
{api_directory}"""

DEFAULT_PROXY_PROMPT_NO_PYTHON_TEMPLATE = """\
## Data APIs

The APIs below are available. Call `query_api_doc` with a proxy id to read its endpoints, parameters \
and response shapes before you use it. In code, call an endpoint with `CALL_API("<proxy id>/<endpoint>", \
params)`; it returns the response as Python data. Output longer than {max_output_chars} characters is cut \
and ends with "{truncation_indicator}".

### API directory
{api_directory}"""


def make_query_api_doc_tool(pm: ProxyManager) -> Function:
    """The ``query_api_doc(proxy_name)`` tool: full endpoint documentation of one proxy."""

    def query_api_doc(proxy_name: str) -> str:
        """Read the full documentation of one API proxy: every endpoint with its parameters (type,
        required, example), a response example and notes. Call it before using a proxy.

        Args:
            proxy_name: The proxy id from the API directory, e.g. 'bookstore'.
        """
        try:
            return pm.endpoint_docs(proxy_name)
        except ProxyLookupError:
            return f"Proxy '{proxy_name}' not found. Available proxies: {pm.available()}"

    return Function.from_callable(query_api_doc, processor=_plain)


def make_run_python_tool(interpreter: AgentInterpreter) -> Function:
    """The ``run_python(code)`` tool over ``interpreter``."""

    def run_python(code: str) -> Dict[str, str]:
        """Run Python code in your persistent interpreter, where CALL_API(path, params) calls the APIs.
        Returns what the code printed (stdout and stderr) or its traceback.

        Args:
            code: Python source. Use print() for every value you want to see.
        """
        result = interpreter.execute(code)
        return {"output": interpreter.describe(result, clip=False), "shown": interpreter.describe(result)}

    # The model reads the clipped text; the call's result (recorded in the session) keeps the whole output.
    return Function.from_callable(run_python, processor=lambda result, call: result["shown"])


def _plain(result: Any, call: Any) -> str:
    """Tool results as they are (the default processor would repeat the arguments, i.e. the whole code)."""
    return str(result)


def proxy_settings(proxy_cfg: Optional[Dict[str, Any]], extra_proxies: Sequence[str] = ()) -> Dict[str, Any]:
    """The validated ``proxy:`` block with defaults; ``extra_proxies`` join ``activate_proxies``."""
    cfg = dict(proxy_cfg or {})
    unknown = sorted(set(cfg) - set(PROXY_DEFAULTS))
    if unknown:
        warnings.warn(
            f"proxy block: unknown keys {unknown} are ignored. Known keys: {sorted(PROXY_DEFAULTS)}",
            UserWarning,
            stacklevel=3,
        )
    settings = {**PROXY_DEFAULTS, **{k: v for k, v in cfg.items() if k in PROXY_DEFAULTS}}
    if settings["exec_env"] not in EXEC_ENVS:
        raise ConfigError(f"proxy block: exec_env must be one of {list(EXEC_ENVS)}, got {settings['exec_env']!r}")
    if not (settings["backend"] in BACKENDS or not isinstance(settings["backend"], str)):
        raise ConfigError(
            f"proxy block: backend must be one of {list(BACKENDS)} (or an Executor), got {settings['backend']!r}"
        )
    active = settings["activate_proxies"] or []
    if isinstance(active, str):
        active = [active]
    if not isinstance(active, list) or not all(isinstance(a, str) for a in active):
        raise ConfigError(f"proxy block: activate_proxies must be a list of proxy names, got {active!r}")
    settings["activate_proxies"] = [*active, *(p for p in extra_proxies if p not in active)]
    chars = settings["max_output_chars"]
    if isinstance(chars, bool) or not isinstance(chars, int) or chars < 0:
        raise ConfigError(f"proxy block: max_output_chars must be an integer >= 0 (0 = no limit), got {chars!r}")
    timeout = settings["timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:  # NaN too
        raise ConfigError(f"proxy block: timeout must be a number of seconds > 0, got {timeout!r}")
    memory = settings["max_memory_mb"]
    if memory is not None and (isinstance(memory, bool) or not isinstance(memory, int) or memory < 0):
        raise ConfigError(
            f"proxy block: max_memory_mb must be a whole number of megabytes >= 0 (0 = no limit), got {memory!r}"
        )
    template = settings["prompt_template"]
    if template is not None:
        if not isinstance(template, str):
            raise ConfigError(f"proxy block: prompt_template must be a string, got {type(template).__name__}")
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as e:
            raise ConfigError(
                f"proxy block: prompt_template is not a valid template ({e}); double literal braces"
            ) from None
        bad = sorted(fields - TEMPLATE_FIELDS)
        if bad:
            raise ConfigError(
                f"proxy block: prompt_template may use only {sorted(TEMPLATE_FIELDS)}, "
                f"not {bad}; double literal braces ({{{{ }}}})"
            )
    return settings


def render_proxy_prompt(pm: ProxyManager, settings: Dict[str, Any]) -> str:
    """The system-prompt block: the template filled with the API directory and the output limits."""
    template = settings.get("prompt_template") or (
        DEFAULT_PROXY_PROMPT_TEMPLATE
        if settings.get("exec_env") == "interpreter"
        else DEFAULT_PROXY_PROMPT_NO_PYTHON_TEMPLATE
    )
    chars = settings.get("max_output_chars", 5000)
    return template.format(
        api_directory=pm.retrieve_api_docs() or "(no proxies are active)",
        max_output_chars=chars if chars else "unlimited",
        truncation_indicator=settings.get("truncation_indicator", "... (truncated)"),
    )


def _with_block(system_prompt: Any, block: str) -> Prompt:
    """A copy of ``system_prompt`` with ``block`` appended as literal text (braces escaped)."""
    prompt: Prompt = (
        Prompt(path="_inline/proxy/system", prompt=system_prompt) if isinstance(system_prompt, str) else system_prompt
    )
    if isinstance(prompt.renderer, StringFormatterRenderer):
        block = block.replace("{", "{{").replace("}", "}}")
    text = f"{prompt.prompt.rstrip()}\n\n{block}" if prompt.prompt.strip() else block
    return prompt.extend(path=prompt.path, prompt=text)


def split_proxy_tools(tools: Sequence[Any], runtime: Runtime) -> Tuple[List[Any], List[str]]:
    """``(other entries, proxy names)`` of an agent's ``tools:``: string entries naming a registered proxy
    (e.g. ``mypkg.proxies:bookstore``) activate that proxy instead of naming a tool."""
    others, proxies = [], []
    for entry in tools:
        if isinstance(entry, str) and runtime.has(entry, "proxy"):
            proxies.append(entry)
        else:
            others.append(entry)
    return others, proxies


@dataclass
class ProxySurface:
    """What one agent instance gets from its ``proxy:`` block; ``close()`` stops its interpreter."""

    system_prompt: Any
    tools: List[Any]
    proxy_manager: Optional[ProxyManager] = None
    interpreter: Optional[AgentInterpreter] = None
    settings: Dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        if self.interpreter is not None:
            self.interpreter.close()


def build_proxy_surface(
    proxy_cfg: Optional[Dict[str, Any]], system_prompt: Any, runtime: Runtime, tools: Sequence[Any] = ()
) -> ProxySurface:
    """The agent's system prompt and tools with its proxies wired in.

    Active when ``proxy_cfg`` is a mapping or ``tools`` names a proxy; otherwise the prompt and tools
    come back unchanged. ``system_prompt`` is never modified (a copy gets the block)."""
    tools, named = split_proxy_tools(list(tools), runtime)
    if proxy_cfg is None and not named:
        return ProxySurface(system_prompt=system_prompt, tools=tools)
    settings = proxy_settings(proxy_cfg, named)
    pm = ProxyManager(
        settings["activate_proxies"],
        cutoff_date=settings["cutoff_date"],
        deploy_mode=settings["deploy_mode"],
        runtime=runtime,
    )
    injected = [make_query_api_doc_tool(pm)]
    interpreter = None
    if settings["exec_env"] == "interpreter":
        interpreter = AgentInterpreter(
            pm,
            max_output_chars=settings["max_output_chars"],
            truncation_indicator=settings["truncation_indicator"],
            timeout=float(settings["timeout"]),
            backend=settings["backend"],
            max_memory_mb=settings["max_memory_mb"],
        )
        injected.append(make_run_python_tool(interpreter))
    prompt = _with_block(system_prompt, render_proxy_prompt(pm, settings))
    return ProxySurface(
        system_prompt=prompt, tools=[*injected, *tools], proxy_manager=pm, interpreter=interpreter, settings=settings
    )


__all__ = [
    "build_proxy_surface",
    "ProxySurface",
    "proxy_settings",
    "render_proxy_prompt",
    "split_proxy_tools",
    "make_query_api_doc_tool",
    "make_run_python_tool",
    "DEFAULT_PROXY_PROMPT_TEMPLATE",
    "DEFAULT_PROXY_PROMPT_NO_PYTHON_TEMPLATE",
    "PROXY_DEFAULTS",
    "EXEC_ENVS",
]
