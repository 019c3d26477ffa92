"""Agent configuration as declaration: merge ``global`` into each agent entry and build AgentSpecs.

A tactic config (YAML or dict) declares its agents; ``AgentSpec`` validates one agent's entry and
builds a fresh ``Agent`` from it for every tactic call."""
from __future__ import annotations

import copy
import logging
import warnings
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from pydantic import BaseModel, ConfigDict, Field

from lllm.core.const import APITypes
from lllm.errors import ConfigError, ResourceNotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.agent import Agent
    from lllm.core.runtime import Runtime
    from lllm.invokers.base import BaseInvoker

logger = logging.getLogger("lllm.config")

_LIMITS = {"max_exception_retry": 3, "max_interrupt_steps": 5, "max_llm_recall": 0, "rate_limit_retries": 6}
KNOWN_AGENT_KEYS = frozenset({
    "name", "model_name", "system_prompt", "system_prompt_path", "api_type", "model_args",
    *_LIMITS, "extra_settings", "proxy", "context_manager", "skills", "tools",
})


def deep_merge(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    """A new dict: dicts merge recursively; lists, scalars and explicit ``None`` replace. Inputs untouched."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class AgentSpec(BaseModel):
    """One agent's validated declaration; ``build()`` makes a fresh Agent from it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    model_name: str
    system_prompt: Optional[str] = None
    system_prompt_path: Optional[str] = None
    api_type: APITypes = APITypes.COMPLETION
    model_args: Dict[str, Any] = Field(default_factory=dict)
    max_exception_retry: int = 3
    max_interrupt_steps: int = 5
    max_llm_recall: int = 0
    rate_limit_retries: int = 6
    extra_settings: Dict[str, Any] = Field(default_factory=dict)
    proxy: Optional[Dict[str, Any]] = None
    context_manager: Optional[Any] = None
    skills: Optional[Any] = None
    tools: List[Any] = Field(default_factory=list)

    @classmethod
    def from_config(cls, name: str, raw: Dict[str, Any]) -> "AgentSpec":
        """Validate an agent entry; unknown keys move into ``model_args`` with a warning."""
        if not isinstance(raw, dict):
            raise TypeError(f"Agent '{name}': config must be a mapping, got {type(raw).__name__}")
        where = f"Agent '{name}'"
        if not raw.get("model_name"):
            raise ConfigError(f"{where}: 'model_name' is required (e.g. model_name: gpt-4o-mini, or 'test' offline).")
        if not isinstance(raw["model_name"], str):
            raise ConfigError(f"{where}: 'model_name' must be a string, got {type(raw['model_name']).__name__}")
        sp, spp = raw.get("system_prompt"), raw.get("system_prompt_path")
        if sp is not None and spp is not None:
            raise ConfigError(f"{where}: set exactly one of 'system_prompt' (inline text) or "
                              f"'system_prompt_path' (a prompt key), not both.")
        if sp is None and spp is None:
            raise ConfigError(f"{where}: one of 'system_prompt' (inline text) or 'system_prompt_path' is required.")
        for key in ("system_prompt", "system_prompt_path"):
            if raw.get(key) is not None and not isinstance(raw[key], str):
                raise ConfigError(f"{where}: '{key}' must be a string, got {type(raw[key]).__name__}")
        model_args = raw.get("model_args") or {}
        if not isinstance(model_args, dict):
            raise ConfigError(f"{where}: 'model_args' must be a mapping, got {type(model_args).__name__}")
        limits = {}
        for key, default in _LIMITS.items():
            v = raw.get(key, default)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"{where}: '{key}' must be an integer >= 0, got {v!r}")
            limits[key] = v
        api_type = raw.get("api_type", "completion")
        try:
            api_type = APITypes(api_type)
        except ValueError:
            raise ConfigError(f"{where}: 'api_type' must be one of {[a.value for a in APITypes]}, got {api_type!r}") from None
        unknown = sorted(set(raw) - KNOWN_AGENT_KEYS)
        if unknown:
            warnings.warn(f"{where}: unknown keys {unknown} are passed to the model as model_args. "
                          f"Known agent keys: {sorted(KNOWN_AGENT_KEYS)}", UserWarning, stacklevel=2)
            model_args = {**{k: raw[k] for k in unknown}, **model_args}
        for key, typ in (("extra_settings", dict), ("proxy", dict), ("tools", list)):
            if raw.get(key) is not None and not isinstance(raw[key], typ):
                raise ConfigError(f"{where}: '{key}' must be a {typ.__name__}, got {type(raw[key]).__name__}")
        if raw.get("proxy") is not None:  # a bad exec_env or prompt template fails when the config is read
            from lllm.proxies.agent_surface import proxy_settings
            proxy_settings(raw["proxy"])
        cm = raw.get("context_manager")
        if cm is not None and not isinstance(cm, dict):
            raise ConfigError(f"{where}: 'context_manager' must be a mapping like {{type: default, max_tokens: 8000}} "
                              f"or null, got {type(cm).__name__}")
        return cls(name=name, model_name=raw["model_name"], system_prompt=sp, system_prompt_path=spp,
                   api_type=api_type, model_args=dict(model_args), extra_settings=raw.get("extra_settings") or {},
                   proxy=raw.get("proxy"), context_manager=cm, skills=raw.get("skills"),
                   tools=list(raw.get("tools") or []), **limits)

    def resolve_system_prompt(self, runtime: "Runtime") -> Any:
        from lllm.core.prompt import Prompt
        if self.system_prompt is not None:
            return Prompt(path=f"_inline/{self.name}/system", prompt=self.system_prompt)
        try:
            return runtime.get_prompt(self.system_prompt_path)
        except ResourceNotFoundError as e:
            raise ResourceNotFoundError(f"Agent '{self.name}': system_prompt_path {e.message}",
                                        key=e.key, suggestions=e.suggestions) from None

    def build(self, runtime: "Runtime", invoker: "BaseInvoker", stream_handler: Any = None,
              system_prompt: Any = None, skills: Any = None) -> "Agent":
        """A fresh Agent. ``system_prompt`` and ``skills`` (a ``SkillSet``) let a tactic pass what it
        resolved once; without ``skills`` the spec's ``skills:`` are resolved here (§3.4)."""
        from lllm.core.agent import Agent
        from lllm.core.context import build_context_manager
        from lllm.core.skills import resolve_skills
        system_prompt = system_prompt or self.resolve_system_prompt(runtime)
        model_args = dict(self.model_args)
        skills = resolve_skills(self.skills) if skills is None else skills
        if skills:
            system_prompt, _, model_args = skills.apply(system_prompt, model_args)
        tools, surface = list(self.tools), None
        if self.proxy is not None or any(isinstance(t, str) for t in tools):  # proxies: §8.2
            from lllm.proxies.agent_surface import build_proxy_surface
            surface = build_proxy_surface(self.proxy, system_prompt, runtime, tools=tools)
            system_prompt, tools = surface.system_prompt, surface.tools
        agent = Agent(
            name=self.name, system_prompt=system_prompt,
            model=self.model_name, llm_invoker=invoker, stream_handler=stream_handler, api_type=self.api_type,
            model_args=model_args, max_exception_retry=self.max_exception_retry,
            max_interrupt_steps=self.max_interrupt_steps, max_llm_recall=self.max_llm_recall,
            context_manager=build_context_manager(self.context_manager, self.model_name, runtime,
                                                  window_lookup=getattr(invoker, "context_window", None))
            if self.context_manager is not None else None,
            tools=tools, rate_limit_retries=self.rate_limit_retries, runtime=runtime)
        agent.proxy_surface = surface
        return agent


def parse_agent_configs(config: Dict[str, Any], agent_group: List[str], tactic_name: str) -> Dict[str, AgentSpec]:
    """Merge ``global`` into every agent entry and return specs for ``agent_group`` (in its order)."""
    if not isinstance(config, dict):
        raise ConfigError(f"Tactic '{tactic_name}': config must be a mapping, got {type(config).__name__}")
    glob = config.get("global") or {}
    if not isinstance(glob, dict):
        raise ConfigError(f"Tactic '{tactic_name}': 'global' must be a mapping, got {type(glob).__name__}")
    entries: Dict[str, Dict[str, Any]] = {}
    listed = config.get("agent_configs") or []
    if not isinstance(listed, list):
        raise ConfigError(f"Tactic '{tactic_name}': 'agent_configs' must be a list of mappings with a 'name'")
    for i, entry in enumerate(listed):
        if not isinstance(entry, dict):
            raise TypeError(f"Tactic '{tactic_name}': agent_configs[{i}] must be a mapping, got {type(entry).__name__}")
        if not entry.get("name"):
            raise ValueError(f"Tactic '{tactic_name}': agent_configs[{i}] has no 'name'")
        if entry["name"] in entries:
            raise ConfigError(f"Tactic '{tactic_name}': agent_configs[{i}] repeats the agent name "
                              f"'{entry['name']}'; each agent is declared once.")
        entries[entry["name"]] = entry
    grouped = config.get("agent_group_configs") or {}
    if not isinstance(grouped, dict):
        raise ConfigError(f"Tactic '{tactic_name}': 'agent_group_configs' must map agent names to mappings")
    for name, entry in grouped.items():
        if name in entries:
            raise ConfigError(f"Tactic '{tactic_name}': agent '{name}' is defined in both 'agent_configs' "
                              f"and 'agent_group_configs'; keep one.")
        if not isinstance(entry, dict):
            raise TypeError(f"Tactic '{tactic_name}': agent_group_configs['{name}'] must be a mapping")
        entries[name] = {**entry, "name": name}
    specs: Dict[str, AgentSpec] = {}
    for name in agent_group:
        if name not in entries:
            raise ValueError(f"Agent '{name}' required by tactic '{tactic_name}' not found in config. "
                             f"Available: {sorted(entries)}")
        merged = deep_merge(glob, entries[name])
        merged.pop("name", None)
        specs[name] = AgentSpec.from_config(name, merged)
    return specs


# ---------------------------------------------------------------------------------------------
# Named configs: inheritance, vendoring, profiles (§7)
# ---------------------------------------------------------------------------------------------

def _runtime(runtime: Optional["Runtime"]) -> "Runtime":
    from lllm.core.runtime import get_default_runtime
    return runtime or get_default_runtime()


def _config_node(name: str, rt: "Runtime", package: Optional[str] = None) -> Any:
    """The config node for ``name``, tried in ``package`` first when the name has no ':'."""
    if package and ":" not in name:
        node = rt._exact_node(f"{package}.configs:{name}", "config")
        if node is not None:
            return node
    return rt.get_node(name, "config")


def load_config(name: str, runtime: Optional["Runtime"] = None) -> Any:
    """The raw config registered under ``name`` (a copy: ``base`` is not followed)."""
    return copy.deepcopy(_runtime(runtime).get(name, "config"))


def _resolve_chain(data: Dict[str, Any], label: str, package: Optional[str], rt: "Runtime",
                   chain: List[str]) -> Dict[str, Any]:
    """``data`` with its ``base`` chain merged underneath; ``chain`` holds the keys visited so far."""
    base = data.get("base")
    own = {k: v for k, v in data.items() if k != "base"}
    if base is None:
        return copy.deepcopy(own)
    if not isinstance(base, str) or not base:
        raise ConfigError(f"Config '{label}': 'base' must be the name of another config, got {base!r}")
    try:
        node = _config_node(base, rt, package)
    except ResourceNotFoundError as e:
        raise ResourceNotFoundError(f"Config '{label}': base {e.message}", key=e.key, suggestions=e.suggestions) \
            from None
    key = node.qualified_key
    if key in chain:
        raise ValueError("Config inheritance cycle: " + " -> ".join([*chain, key]))
    parent = node.value
    if not isinstance(parent, dict):
        raise TypeError(f"Config '{key}' (base of '{label}') must be a mapping, got {type(parent).__name__}")
    pkg = node.namespace.partition(".")[0] or None
    return deep_merge(_resolve_chain(parent, key, pkg, rt, [*chain, key]), own)


def resolve_config(name: str, runtime: Optional["Runtime"] = None) -> Dict[str, Any]:
    """The config ``name`` with its ``base`` chain followed (the child's package first) and merged under it.

    The result is a new dict without ``base``. A cycle raises ``ValueError`` showing the chain."""
    rt = _runtime(runtime)
    node = rt.get_node(name, "config")
    data = node.value
    if not isinstance(data, dict):
        raise TypeError(f"Config '{node.qualified_key}' must be a mapping, got {type(data).__name__}")
    key = node.qualified_key
    return _resolve_chain(data, key, node.namespace.partition(".")[0] or None, rt, [key])


def vendor_config(source: "str | Dict[str, Any]", overrides: Optional[Dict[str, Any]] = None, *,
                  runtime: Optional["Runtime"] = None) -> Dict[str, Any]:
    """A standalone, fully resolved copy of a config (a name or a dict), with ``overrides`` merged on top."""
    rt = _runtime(runtime)
    if isinstance(source, str):
        resolved = resolve_config(source, runtime=rt)
    elif isinstance(source, dict):
        resolved = _resolve_chain(source, "<dict>", rt.default_namespace, rt, [])
    else:
        raise TypeError(f"vendor_config: source must be a config name or a mapping, got {type(source).__name__}")
    if overrides is not None:
        if not isinstance(overrides, dict):
            raise TypeError(f"vendor_config: overrides must be a mapping, got {type(overrides).__name__}")
        resolved = deep_merge(resolved, overrides)
    return resolved


def resolve_profile(default: str = "default", *, env_var: str = "LLLM_CONFIG_PROFILE",
                    runtime: Optional["Runtime"] = None) -> Dict[str, Any]:
    """``resolve_config(os.environ.get(env_var, default))``; an unknown profile lists the configs."""
    import os
    rt = _runtime(runtime)
    name = os.environ.get(env_var) or default
    if not rt.has(name, "config"):
        raise ResourceNotFoundError(f"Unknown config profile '{name}' (from ${env_var} or the default "
                                    f"'{default}'). Configs: {rt.keys('config')}", key=name)
    return resolve_config(name, runtime=rt)


def agent_config_schema() -> Dict[str, Any]:
    """The JSON Schema of a tactic/agent config file, for editors (published as
    ``lllm/schemas/agent-config.schema.json``)."""
    limit = {"type": "integer", "minimum": 0}
    agent = {
        "type": "object",
        "description": "One agent. Keys not listed here are passed to the model as model_args (with a warning).",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "model_name": {"type": "string", "description": "e.g. gpt-4o-mini, anthropic/claude-sonnet-4-5, "
                                                             "or 'test' for the offline model"},
            "system_prompt": {"type": "string", "description": "Inline system prompt text"},
            "system_prompt_path": {"type": "string", "description": "A prompt key, e.g. pkg.prompts:system"},
            "api_type": {"enum": ["completion", "response"]},
            "model_args": {"type": "object"},
            **{k: {**limit, "default": v} for k, v in _LIMITS.items()},
            "extra_settings": {"type": "object"},
            "proxy": {"type": ["object", "null"]},
            "context_manager": {"type": ["object", "null"],
                                "properties": {"type": {"type": ["string", "null"]},
                                               "max_tokens": {"type": "integer", "minimum": 1}}},
            "skills": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"const": "*"}, {"type": "null"}]},
            "tools": {"type": "array", "items": {"type": "string"},
                      "description": "Tool, tactic or proxy URLs, e.g. pkg.tools:search"},
        },
        "not": {"required": ["system_prompt", "system_prompt_path"]},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "LLLM tactic and agent configuration",
        "type": "object",
        "properties": {
            "tactic_type": {"type": "string"},
            "base": {"type": "string", "description": "Another config to inherit from (deep-merged underneath)"},
            "global": {"$ref": "#/$defs/agent", "description": "Merged into every agent entry"},
            "agent_configs": {"type": "array", "items": {"allOf": [{"$ref": "#/$defs/agent"}, {"required": ["name"]}]}},
            "agent_group_configs": {"type": "object", "additionalProperties": {"$ref": "#/$defs/agent"}},
            "invoker": {"type": "string"},
            "invoker_config": {"type": "object"},
            "max_workers": {"type": "integer", "minimum": 1},
        },
        "$defs": {"agent": agent},
    }


__all__ = ["AgentSpec", "deep_merge", "parse_agent_configs", "KNOWN_AGENT_KEYS", "load_config", "resolve_config",
           "vendor_config", "resolve_profile", "agent_config_schema"]
