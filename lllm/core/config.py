"""Agent configuration as declaration: merge ``global`` into each agent entry and build AgentSpecs.

A tactic config (YAML or dict) declares its agents; ``AgentSpec`` validates one agent's entry and
builds a fresh ``Agent`` from it for every tactic call."""
from __future__ import annotations

import copy
import logging
import math
import warnings
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, TypeGuard

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lllm.core.const import APITypes
from lllm.errors import ConfigError, ResourceNotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.agent import Agent
    from lllm.core.runtime import Runtime
    from lllm.invokers.base import BaseInvoker

logger = logging.getLogger("lllm.config")

# Retry budgets (counts). max_llm_recall was 0 in lllm-core 0.1.x: one HTTP 500 failed a whole call.
_LIMITS = {"max_exception_retry": 3, "max_interrupt_steps": 5, "max_llm_recall": 2, "rate_limit_retries": 6}
# Time budgets in seconds: the longest single retry wait (a longer Retry-After fails at once) and an
# optional deadline for a whole agent call, every retry, backoff and tool round included (None: none).
_TIME_LIMITS: Dict[str, Optional[float]] = {"max_retry_wait_s": 60.0, "call_deadline_s": None}
KNOWN_AGENT_KEYS = frozenset({
    "name", "model_name", "system_prompt", "system_prompt_path", "api_type", "model_args",
    *_LIMITS, *_TIME_LIMITS, "extra_settings", "proxy", "context_manager", "skills", "tools",
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


def misspelled_agent_key(key: str) -> Optional[str]:
    """The known agent key ``key`` is probably a misspelling of (``max_interupt_steps``), or ``None``."""
    import difflib
    close = difflib.get_close_matches(key, sorted(KNOWN_AGENT_KEYS), n=1, cutoff=0.85)
    return close[0] if close else None


def merge_configs(base: Dict[str, Any], child: Dict[str, Any]) -> Dict[str, Any]:
    """``child`` over ``base`` as ``base`` inheritance does: ``deep_merge``, except that ``agent_configs``
    lists merge entry by entry by ``name`` (a child's entry is deep-merged over the base entry of the same
    name, new names are appended), so a child config can change one agent without repeating the others."""
    out = deep_merge(base, {k: v for k, v in child.items() if k != "agent_configs"})
    mine, theirs = child.get("agent_configs"), base.get("agent_configs")
    if "agent_configs" not in child:
        return out
    if not (_named_entries(mine) and _named_entries(theirs)):
        out["agent_configs"] = copy.deepcopy(mine)
        return out
    merged = [copy.deepcopy(e) for e in theirs]
    index = {e["name"]: i for i, e in enumerate(merged)}
    for entry in mine:
        if entry["name"] in index:
            merged[index[entry["name"]]] = deep_merge(merged[index[entry["name"]]], entry)
        else:
            index[entry["name"]] = len(merged)
            merged.append(copy.deepcopy(entry))
    out["agent_configs"] = merged
    return out


def _named_entries(value: Any) -> TypeGuard[List[Dict[str, Any]]]:
    return isinstance(value, list) and all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in value)


def check_seconds(where: str, key: str, value: Any, error: type = ValueError) -> Optional[float]:
    """A time budget as a float: a finite number of seconds > 0 (``call_deadline_s`` may also be None)."""
    if value is None and key == "call_deadline_s":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        allowed = " or null (no deadline)" if key == "call_deadline_s" else ""
        raise error(f"{where}: '{key}' must be a number of seconds > 0{allowed}, got {value!r}")
    return float(value)


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
    max_llm_recall: int = 2
    rate_limit_retries: int = 6
    max_retry_wait_s: float = 60.0
    call_deadline_s: Optional[float] = None
    extra_settings: Dict[str, Any] = Field(default_factory=dict)
    proxy: Optional[Dict[str, Any]] = None
    context_manager: Optional[Any] = None
    skills: Optional[Any] = None
    tools: List[Any] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _old_model_keyword(cls, data: Any) -> Any:
        if isinstance(data, dict) and "model" in data and "model_name" not in data:  # 0.1.x AgentSpec(model=...)
            warnings.warn("AgentSpec(model=...) is deprecated; use AgentSpec(model_name=...)", DeprecationWarning,
                          stacklevel=4)
            data = {("model_name" if k == "model" else k): v for k, v in data.items()}
        return data

    @property
    def model(self) -> str:
        """0.1.x spelling of ``model_name``."""
        warnings.warn("AgentSpec.model is deprecated; use AgentSpec.model_name", DeprecationWarning, stacklevel=2)
        return self.model_name

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
        limits: Dict[str, Any] = {}
        for key, default in _LIMITS.items():
            v = raw.get(key, default)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"{where}: '{key}' must be an integer >= 0, got {v!r}")
            limits[key] = v
        for key, seconds in _TIME_LIMITS.items():
            limits[key] = check_seconds(where, key, raw.get(key, seconds), ConfigError)
        api_type = raw.get("api_type", "completion")
        try:
            api_type = APITypes(api_type)
        except ValueError:
            raise ConfigError(f"{where}: 'api_type' must be one of {[a.value for a in APITypes]}, got {api_type!r}") from None
        unknown = sorted(set(raw) - KNOWN_AGENT_KEYS)
        if unknown:
            hints = "".join(f" Did you mean '{close}' for '{k}'?" for k in unknown
                            for close in [misspelled_agent_key(k)] if close)
            warnings.warn(f"{where}: unknown keys {unknown} are passed to the model as model_args.{hints} "
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
        assert self.system_prompt_path is not None  # validated: exactly one of the two is set
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
            tools=tools, rate_limit_retries=self.rate_limit_retries, runtime=runtime,
            max_retry_wait_s=self.max_retry_wait_s, call_deadline_s=self.call_deadline_s)
        agent.proxy_surface = surface
        return agent


_Shape = Tuple[Any, str]  # (accepted type(s), what the field must be)
_TOP_SHAPES: Dict[str, _Shape] = {  # top-level config fields LLLM reads; other keys belong to the tactic
    "base": (str, "the name of another config"),
    "tactic_type": (str, "a tactic name"),
    "global": (dict, "a mapping of agent settings merged into every agent"),
    "agent_configs": (list, "a list of agent configs (mappings, each with a 'name')"),
    "agent_group_configs": (dict, "a mapping from agent names to agent configs"),
    "invoker": (str, "an invoker name (auto, openai, anthropic, litellm or test)"),
    "invoker_config": (dict, "a mapping of invoker settings"),
    "mcp_servers": (dict, "a mapping from server names to MCP server settings"),
    "max_workers": (int, "an integer >= 1"),
}
_AGENT_SHAPES: Dict[str, _Shape] = {
    "name": (str, "a string"), "model_name": (str, "a model name (a string)"),
    "system_prompt": (str, "a string"), "system_prompt_path": (str, "a prompt key (a string)"),
    "api_type": (str, "'completion' or 'response'"), "model_args": (dict, "a mapping"),
    "extra_settings": (dict, "a mapping"), "proxy": (dict, "a mapping of proxy settings"),
    "context_manager": (dict, "a mapping like {type: default, max_tokens: 8000}"),
    "tools": (list, "a list of tool URLs"), "skills": ((list, str), "a list of skill names or '*'"),
    **{k: (int, "an integer >= 0") for k, v in _LIMITS.items() if type(v) is int},
}


def _check_field(where: str, field: str, value: Any, shape: _Shape) -> None:
    typ, what = shape
    if value is None:
        return
    wrong = not isinstance(value, typ) or (typ is int and isinstance(value, bool))
    if not wrong and typ is int:
        wrong = value < (1 if field == "max_workers" else 0)
    if wrong:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise ConfigError(f"{where}: '{field}' must be {what}, got {type(value).__name__} {shown}")


def check_config_shape(config: Any, where: str) -> Dict[str, Any]:
    """``config`` itself if every top-level field LLLM reads, and every known key of its agent entries, has
    the right type; otherwise a ``ConfigError`` that starts with ``where`` (say, the file) and names the field."""
    if not isinstance(config, dict):
        raise ConfigError(f"{where} must be a mapping of config fields, got {type(config).__name__}")
    for field, shape in _TOP_SHAPES.items():
        _check_field(where, field, config.get(field), shape)
    agents: List[Tuple[str, Dict[str, Any]]] = [("global", config.get("global") or {})]
    for i, entry in enumerate(config.get("agent_configs") or []):
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: 'agent_configs[{i}]' must be an agent config (a mapping with a 'name'), "
                              f"got {type(entry).__name__}")
        if not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ConfigError(f"{where}: 'agent_configs[{i}]' needs a 'name' (a non-empty string), "
                              f"got {entry.get('name')!r}")
        agents.append((f"agent_configs[{i}]", entry))
    for name, entry in (config.get("agent_group_configs") or {}).items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: 'agent_group_configs' keys must be agent names (strings), got {name!r}")
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: 'agent_group_configs.{name}' must be an agent config (a mapping), "
                              f"got {type(entry).__name__}")
        agents.append((f"agent_group_configs.{name}", entry))
    for prefix, entry in agents:
        for key, shape in _AGENT_SHAPES.items():
            _check_field(where, f"{prefix}.{key}", entry.get(key), shape)
    return config


def parse_agent_configs(config: Dict[str, Any], agent_group: List[str], tactic_name: str) -> Dict[str, AgentSpec]:
    """Merge ``global`` into every agent entry and return specs for ``agent_group`` (in its order)."""
    check_config_shape(config, f"Tactic '{tactic_name}': config")
    glob = config.get("global") or {}
    entries: Dict[str, Dict[str, Any]] = {}
    for i, entry in enumerate(config.get("agent_configs") or []):
        if entry["name"] in entries:
            raise ConfigError(f"Tactic '{tactic_name}': agent_configs[{i}] repeats the agent name "
                              f"'{entry['name']}'; each agent is declared once.")
        entries[entry["name"]] = entry
    for name, entry in (config.get("agent_group_configs") or {}).items():
        if name in entries:
            raise ConfigError(f"Tactic '{tactic_name}': agent '{name}' is defined in both 'agent_configs' "
                              f"and 'agent_group_configs'; keep one.")
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


def _where(node: Any, of: str = "") -> str:
    """``Config 'key' (file)``, naming the file the config was read from when there is one."""
    file = node.metadata.get("file_path") if isinstance(getattr(node, "metadata", None), dict) else None
    return f"Config '{node.qualified_key}'" + (f" (base of '{of}')" if of else "") + (f" ({file})" if file else "")


def _resolve_chain(data: Dict[str, Any], label: str, package: Optional[str], rt: "Runtime",
                   chain: List[str], where: str = "") -> Dict[str, Any]:
    """``data`` with its ``base`` chain merged underneath; ``chain`` holds the keys visited so far,
    ``where`` says in messages which config (and file) ``data`` is."""
    where = where or f"Config '{label}'"
    check_config_shape(data, where)
    base = data.get("base")
    own = {k: v for k, v in data.items() if k != "base"}
    if base is None:
        return copy.deepcopy(own)
    if not base:
        raise ConfigError(f"{where}: 'base' must be the name of another config, got {base!r}")
    try:
        node = _config_node(base, rt, package)
    except ResourceNotFoundError as e:
        raise ResourceNotFoundError(f"Config '{label}': base {e.message}", key=e.key, suggestions=e.suggestions) \
            from None
    key = node.qualified_key
    if key in chain:
        raise ValueError("Config inheritance cycle: " + " -> ".join([*chain, key]))
    pkg = node.namespace.partition(".")[0] or None
    return merge_configs(_resolve_chain(node.value, key, pkg, rt, [*chain, key], _where(node, label)), own)


def resolve_config(name: str, runtime: Optional["Runtime"] = None) -> Dict[str, Any]:
    """The config ``name`` with its ``base`` chain followed (the child's package first) and merged under it.

    The result is a new dict without ``base``. A cycle raises ``ValueError`` showing the chain; a config
    whose fields have the wrong shape raises ``ConfigError`` naming its file and the field."""
    rt = _runtime(runtime)
    node = rt.get_node(name, "config")
    key = node.qualified_key
    return _resolve_chain(node.value, key, node.namespace.partition(".")[0] or None, rt, [key], _where(node))


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
        resolved = merge_configs(resolved, overrides)
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
            "max_retry_wait_s": {"type": "number", "exclusiveMinimum": 0, "default": _TIME_LIMITS["max_retry_wait_s"],
                                 "description": "Longest single retry wait in seconds; a longer Retry-After fails"},
            "call_deadline_s": {"type": ["number", "null"], "exclusiveMinimum": 0, "default": None,
                                "description": "Deadline in seconds for one agent call, retries and tools "
                                               "included (null: none)"},
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


__all__ = ["AgentSpec", "deep_merge", "merge_configs", "misspelled_agent_key", "parse_agent_configs", "check_config_shape",
           "KNOWN_AGENT_KEYS", "load_config", "resolve_config", "vendor_config", "resolve_profile", "agent_config_schema"]

from lllm.compat import lazy_exports as _lazy_exports  # noqa: E402 - 0.1.x names kept here

__getattr__ = _lazy_exports(__name__, {"find_config_file": "lllm.core.manifest", "load_toml": "lllm.compat",
                                       "load_package": "lllm.core.discovery",
                                       "load_cwd_fallback": "lllm.core.discovery"})
