"""An agent's declaration: ``AgentSpec``, one pydantic model that validates an agent's config entry,
builds a fresh ``Agent`` from it, and generates the published JSON Schema of config files.

Regenerate ``lllm/schemas/agent-config.schema.json`` after changing the model with
``python -m lllm.core.spec``."""

from __future__ import annotations

import copy
import difflib
import functools
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Dict, List, Mapping, Optional, Tuple, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lllm.core import wiring
from lllm.core.const import APITypes
from lllm.errors import ConfigError, ResourceNotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from lllm.core.agent import Agent
    from lllm.core.prompt import Prompt
    from lllm.core.protocols import Invoker, RuntimeLike
    from lllm.core.stream import BaseStreamHandler

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "agent-config.schema.json"
_EITHER_PROMPT = "'system_prompt' (inline text) or 'system_prompt_path' (a prompt key)"


class AgentSpec(BaseModel):
    """One agent's validated declaration; ``build()`` makes a fresh Agent from it.

    Keys that are not fields are passed to the model as ``model_args`` (with a warning)."""

    model_config = ConfigDict(
        strict=True,
        title="Agent",
        json_schema_extra={
            "description": "One agent. Keys not listed here are passed to the model as model_args (with a warning).",
            "not": {"required": ["system_prompt", "system_prompt_path"]},
        },
    )  # the rule _one_system_prompt checks

    name: str = Field(description="the agent's name, the key a tactic uses in self.agents")
    model_name: str = Field(
        min_length=1,
        description="the model to call, e.g. gpt-4o-mini or anthropic/claude-sonnet-4-5; 'test' is the offline model",
    )
    system_prompt: Optional[str] = Field(
        None, description="the system prompt as inline text (set this or system_prompt_path)"
    )
    system_prompt_path: Optional[str] = Field(
        None, description="the system prompt as a prompt key, e.g. pkg.prompts:system (or set system_prompt)"
    )
    api_type: APITypes = Field(
        APITypes.COMPLETION,
        strict=False,
        description="the API to call: Chat Completions / Messages, or OpenAI's Responses API",
    )
    model_args: Dict[str, Any] = Field(
        default_factory=dict, description="arguments passed to the model, e.g. {temperature: 0.2}"
    )
    max_exception_retry: int = Field(3, ge=0, description="how often a reply that fails to parse is retried")
    max_interrupt_steps: int = Field(5, ge=0, description="the most tool-call rounds in one call")
    max_llm_recall: int = Field(2, ge=0, description="how often a failed provider request is retried")
    rate_limit_retries: int = Field(6, ge=0, description="how often a rate-limited request is retried")
    max_retry_wait_s: float = Field(
        60.0,
        gt=0,
        allow_inf_nan=False,
        description="a number of seconds > 0: the longest single retry wait; a longer Retry-After fails at once",
    )
    call_deadline_s: Optional[float] = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="a number of seconds > 0 or null (no deadline): the "
        "deadline for one agent call, retries and tools included",
    )
    extra_settings: Dict[str, Any] = Field(default_factory=dict, description="settings your own code reads")
    proxy: Optional[Dict[str, Any]] = Field(
        None, description="proxy settings: exec_env, activate_proxies, timeout, ..."
    )
    context_manager: Optional[Dict[str, Any]] = Field(
        None, description="a mapping like {type: default, max_tokens: 8000}, or null"
    )
    skills: Union[List[str], str, None] = Field(
        None, description="a list of skill names, skill_ ids or SKILL.md URLs, or '*' for every local skill"
    )
    tools: List[Any] = Field(default_factory=list, description="tool, tactic or proxy URLs, e.g. pkg.tools:search")

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any, info: ValidationInfo) -> Any:
        """0.1.x ``model=``; ``None`` for the mapping and list fields; unknown keys into ``model_args``."""
        if not isinstance(data, dict):
            return data
        from_config = bool(info.context and info.context.get("from_config"))
        if not from_config and "model" in data and "model_name" not in data:  # 0.1.x AgentSpec(model=...)
            warnings.warn(
                "AgentSpec(model=...) is deprecated; use AgentSpec(model_name=...)", DeprecationWarning, stacklevel=3
            )
            data = {("model_name" if k == "model" else k): v for k, v in data.items()}
        data = {
            k: ({} if k in ("model_args", "extra_settings") else []) if v is None and k in _NONE_IS_EMPTY else v
            for k, v in data.items()
        }
        unknown = sorted(set(data) - KNOWN_AGENT_KEYS)
        if unknown:
            where = (info.context or {}).get("where") or f"Agent '{data.get('name')}'"
            hints = "".join(
                f" Did you mean '{close}' for '{k}'?" for k in unknown for close in [misspelled_agent_key(k)] if close
            )
            warnings.warn(
                f"{where}: unknown keys {unknown} are passed to the model as model_args.{hints} "
                f"Known agent keys: {sorted(KNOWN_AGENT_KEYS)}",
                UserWarning,
                stacklevel=4 if from_config else 3,
            )
            extra = {k: data[k] for k in unknown}
            data = {k: v for k, v in data.items() if k not in unknown}
            model_args = data.get("model_args", {})
            if isinstance(model_args, dict):  # otherwise 'model_args' itself is reported
                data["model_args"] = {**extra, **model_args}
        return data

    @field_validator("proxy")
    @classmethod
    def _proxy_block(cls, value: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        if value is not None:  # a bad exec_env or prompt template fails when the config is read
            wiring.services.check_proxy(value)
        return value

    @model_validator(mode="after")
    def _one_system_prompt(self) -> "AgentSpec":
        if self.system_prompt is not None and self.system_prompt_path is not None:
            raise ValueError(f"set exactly one of {_EITHER_PROMPT}, not both")
        if self.system_prompt is None and self.system_prompt_path is None:
            raise ValueError(f"one of {_EITHER_PROMPT} is required")
        return self

    @property
    def model(self) -> str:
        """0.1.x spelling of ``model_name``."""
        warnings.warn("AgentSpec.model is deprecated; use AgentSpec.model_name", DeprecationWarning, stacklevel=2)
        return self.model_name

    @classmethod
    def from_config(cls, name: str, raw: Dict[str, Any], *, where: Optional[str] = None) -> "AgentSpec":
        """Validate an agent entry; unknown keys move into ``model_args`` with a warning. A bad entry raises
        a ``ConfigError`` that starts with ``where`` (default ``Agent 'name'``) and lists each bad field."""
        if not isinstance(raw, dict):
            raise TypeError(f"Agent '{name}': config must be a mapping, got {type(raw).__name__}")
        where = where or f"Agent '{name}'"
        try:
            return cls.model_validate({**raw, "name": name}, context={"from_config": True, "where": where})
        except ValidationError as e:
            raise ConfigError(_report(where, _problems(e, raw))) from e

    def resolve_system_prompt(self, runtime: "RuntimeLike") -> "Prompt":
        from lllm.core.prompt import Prompt

        if self.system_prompt is not None:
            return Prompt(path=f"_inline/{self.name}/system", prompt=self.system_prompt)
        assert self.system_prompt_path is not None  # validated: exactly one of the two is set
        try:
            return runtime.get_prompt(self.system_prompt_path)
        except ResourceNotFoundError as e:
            raise ResourceNotFoundError(
                f"Agent '{self.name}': system_prompt_path {e.message}", key=e.key, suggestions=e.suggestions
            ) from None

    def build(
        self,
        runtime: "RuntimeLike",
        invoker: "Invoker",
        stream_handler: Optional["BaseStreamHandler"] = None,
        system_prompt: Optional["Prompt"] = None,
        skills: Any = None,
    ) -> "Agent":
        """A fresh Agent. ``system_prompt`` and ``skills`` (a ``SkillSet``) let a tactic pass what it
        resolved once; without ``skills`` the spec's ``skills:`` are resolved here (§3.4)."""
        from lllm.core.agent import Agent
        from lllm.core.context import build_context_manager

        system_prompt = system_prompt or self.resolve_system_prompt(runtime)
        model_args = dict(self.model_args)
        skills = wiring.services.resolve_skills(self.skills) if skills is None else skills
        if skills:
            system_prompt, _, model_args = skills.apply(system_prompt, model_args)
        tools, surface = list(self.tools), None
        if self.proxy is not None or any(isinstance(t, str) for t in tools):  # proxies: §8.2
            surface = wiring.services.proxy_surface(self.proxy, system_prompt, runtime, tools)
            system_prompt, tools = surface.system_prompt, surface.tools
        agent = Agent(
            name=self.name,
            system_prompt=system_prompt,
            model=self.model_name,
            llm_invoker=invoker,
            stream_handler=stream_handler,
            api_type=self.api_type,
            model_args=model_args,
            max_exception_retry=self.max_exception_retry,
            max_interrupt_steps=self.max_interrupt_steps,
            max_llm_recall=self.max_llm_recall,
            context_manager=build_context_manager(
                self.context_manager, self.model_name, runtime, window_lookup=getattr(invoker, "context_window", None)
            )
            if self.context_manager is not None
            else None,
            tools=tools,
            rate_limit_retries=self.rate_limit_retries,
            runtime=runtime,
            max_retry_wait_s=self.max_retry_wait_s,
            call_deadline_s=self.call_deadline_s,
        )
        agent.proxy_surface = surface
        return agent


KNOWN_AGENT_KEYS = frozenset(AgentSpec.model_fields)
_NONE_IS_EMPTY = frozenset({"model_args", "extra_settings", "tools"})  # 0.1.x configs write `model_args:` empty


def misspelled_agent_key(key: str) -> Optional[str]:
    """The known agent key ``key`` is probably a misspelling of (``max_interupt_steps``), or ``None``."""
    close = difflib.get_close_matches(key, sorted(KNOWN_AGENT_KEYS), n=1, cutoff=0.85)
    return close[0] if close else None


# ---------------------------------------------------------------------------------------------
# Messages: pydantic's errors as "'field' must be ..., got ..." lines
# ---------------------------------------------------------------------------------------------


def _reason(err: Mapping[str, Any]) -> str:
    if err["type"] == "value_error":  # a validator's own message
        return str(err["ctx"]["error"])
    msg = str(err["msg"])
    if not msg.startswith("Input should be "):
        return msg
    msg = "must be " + msg[len("Input should be ") :]
    for theirs, ours in _PLAIN_WORDS:  # YAML's words: a mapping, not a valid dictionary
        msg = msg.replace(theirs, ours)
    return msg


_PLAIN_WORDS = [
    ("a valid dictionary", "a mapping"),
    ("a valid list", "a list"),
    ("a valid integer", "an integer"),
    ("a valid number", "a number"),
    ("a valid string", "a string"),
    ("greater than or equal to ", ">= "),
    ("greater than ", "> "),
]


def _field_problem(label: str, field: str, value: Any, errors: List[Any]) -> str:
    """One line for one bad field: what it must be, what it is, and what the field is for."""
    if all(e["type"] == "missing" for e in errors):
        text = f"'{label}' is required"
    else:
        reasons = list(dict.fromkeys(_reason(e) for e in errors))  # a union reports one error per member
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        got = ", got None" if value is None else f", got {type(value).__name__} {shown}"
        if all(e["type"] == "value_error" for e in errors):  # a validator's message says what it got
            text = f"'{label}': " + "; ".join(reasons)
        elif all(r.startswith("must be ") for r in reasons):
            text = f"'{label}' must be " + " or ".join(r[len("must be ") :] for r in reasons) + got
        else:
            text = f"'{label}': " + "; ".join(reasons) + got
    info = AgentSpec.model_fields.get(field)
    return text + (f" ({info.description})" if info is not None and info.description else "")


def _problems(error: ValidationError, data: Mapping[str, Any], prefix: str = "") -> List[str]:
    by_field: Dict[str, List[Any]] = {}
    for err in error.errors(include_url=False):
        by_field.setdefault(str(err["loc"][0]) if err["loc"] else "", []).append(err)
    lines: List[str] = []
    for field, errors in by_field.items():
        if field:
            lines.append(_field_problem(prefix + field, field, data.get(field), errors))
        else:  # a rule across fields
            lines += [_reason(e) for e in errors]
    return lines


def _report(where: str, problems: List[str]) -> str:
    if len(problems) == 1:
        return f"{where}: {problems[0]}"
    return f"{where}: {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)


@functools.cache
def _field_adapter(field: str) -> TypeAdapter[Any]:
    """A validator for one ``AgentSpec`` field on its own (for entries that ``global`` completes)."""
    info = AgentSpec.model_fields[field]
    annotated: Any = Annotated
    args = (info.annotation, *info.metadata)
    tp: Any = annotated[args] if info.metadata else info.annotation
    return TypeAdapter(tp, config=ConfigDict(strict=True))


def check_seconds(where: str, key: str, value: Any, error: type[Exception] = ValueError) -> Optional[float]:
    """A time budget (``max_retry_wait_s``, or ``call_deadline_s`` which may be None) as a float, checked
    against ``AgentSpec``'s field: a finite number of seconds > 0; otherwise ``error`` naming ``where``."""
    try:
        seconds = _field_adapter(key).validate_python(value)
    except ValidationError as e:
        raise error(f"{where}: {_field_problem(key, key, value, e.errors(include_url=False))}") from e
    return None if seconds is None else float(seconds)


# ---------------------------------------------------------------------------------------------
# A tactic config's shape, and its agents
# ---------------------------------------------------------------------------------------------

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


def _check_top_field(where: str, field: str, value: Any, shape: _Shape) -> None:
    typ, what = shape
    if value is None:
        return
    wrong = not isinstance(value, typ) or (typ is int and isinstance(value, bool))
    if not wrong and typ is int:
        wrong = value < 1
    if wrong:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise ConfigError(f"{where}: '{field}' must be {what}, got {type(value).__name__} {shown}")


def check_config_shape(config: Any, where: str) -> Dict[str, Any]:
    """``config`` itself if every top-level field LLLM reads, and every known key of its agent entries (checked
    against ``AgentSpec``'s fields), has the right type; otherwise a ``ConfigError`` that starts with ``where``
    (say, the file) and names each bad field."""
    if not isinstance(config, dict):
        raise ConfigError(f"{where} must be a mapping of config fields, got {type(config).__name__}")
    for field, shape in _TOP_SHAPES.items():
        _check_top_field(where, field, config.get(field), shape)
    agents: List[Tuple[str, Dict[str, Any]]] = [("global", config.get("global") or {})]
    for i, entry in enumerate(config.get("agent_configs") or []):
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{where}: 'agent_configs[{i}]' must be an agent config (a mapping with a 'name'), "
                f"got {type(entry).__name__}"
            )
        if not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ConfigError(
                f"{where}: 'agent_configs[{i}]' needs a 'name' (a non-empty string), got {entry.get('name')!r}"
            )
        agents.append((f"agent_configs[{i}]", entry))
    for name, entry in (config.get("agent_group_configs") or {}).items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: 'agent_group_configs' keys must be agent names (strings), got {name!r}")
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{where}: 'agent_group_configs.{name}' must be an agent config (a mapping), got {type(entry).__name__}"
            )
        agents.append((f"agent_group_configs.{name}", entry))
    problems: List[str] = []
    for prefix, entry in agents:
        for key in AgentSpec.model_fields:
            if entry.get(key) is not None:  # null: the default (or the value from 'global')
                try:
                    _field_adapter(key).validate_python(entry[key])
                except ValidationError as e:
                    problems.append(_field_problem(f"{prefix}.{key}", key, entry[key], e.errors(include_url=False)))
    if problems:
        raise ConfigError(_report(where, problems))
    return config


def deep_merge(base: Dict[str, Any], override: Dict[str, Any]) -> Dict[str, Any]:
    """A new dict: dicts merge recursively; lists, scalars and explicit ``None`` replace. Inputs untouched."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def parse_agent_configs(
    config: Dict[str, Any], agent_group: List[str], tactic_name: str, *, source: Optional[str] = None
) -> Dict[str, AgentSpec]:
    """Merge ``global`` into every agent entry and return specs for ``agent_group`` (in its order).

    ``source`` (say, the config's key and file) is named in the ``ConfigError`` of a bad agent."""
    check_config_shape(config, f"Tactic '{tactic_name}': config" + (f" ({source})" if source else ""))
    glob = config.get("global") or {}
    entries: Dict[str, Dict[str, Any]] = {}
    for i, entry in enumerate(config.get("agent_configs") or []):
        if entry["name"] in entries:
            raise ConfigError(
                f"Tactic '{tactic_name}': agent_configs[{i}] repeats the agent name "
                f"'{entry['name']}'; each agent is declared once."
            )
        entries[entry["name"]] = entry
    for name, entry in (config.get("agent_group_configs") or {}).items():
        if name in entries:
            raise ConfigError(
                f"Tactic '{tactic_name}': agent '{name}' is defined in both 'agent_configs' "
                f"and 'agent_group_configs'; keep one."
            )
        entries[name] = {**entry, "name": name}
    specs: Dict[str, AgentSpec] = {}
    for name in agent_group:
        if name not in entries:
            raise ValueError(
                f"Agent '{name}' required by tactic '{tactic_name}' not found in config. Available: {sorted(entries)}"
            )
        merged = deep_merge(glob, entries[name])
        merged.pop("name", None)
        where = f"Agent '{name}' of tactic '{tactic_name}'" + (f" ({source})" if source else "")
        specs[name] = AgentSpec.from_config(name, merged, where=where)
    return specs


# ---------------------------------------------------------------------------------------------
# The published JSON Schema of a config file, generated from AgentSpec
# ---------------------------------------------------------------------------------------------

_JSON_TYPES = {str: "string", dict: "object", list: "array", int: "integer"}


def agent_config_schema() -> Dict[str, Any]:
    """The JSON Schema of a tactic/agent config file, for editors: each agent entry is
    ``AgentSpec.model_json_schema()``. Published as ``lllm/schemas/agent-config.schema.json``."""
    agent = AgentSpec.model_json_schema()
    defs = agent.pop("$defs", {})
    agent.pop("required", None)  # an entry may leave any key to 'global'
    top: Dict[str, Any] = {
        field: {"type": _JSON_TYPES[typ], "description": what} for field, (typ, what) in _TOP_SHAPES.items()
    }
    top["max_workers"]["minimum"] = 1
    top["global"]["$ref"] = "#/$defs/agent"
    top["agent_configs"]["items"] = {"allOf": [{"$ref": "#/$defs/agent"}, {"required": ["name"]}]}
    top["agent_group_configs"]["additionalProperties"] = {"$ref": "#/$defs/agent"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "LLLM tactic and agent configuration",
        "type": "object",
        "properties": top,
        "$defs": {**defs, "agent": agent},
    }


def agent_config_schema_text() -> str:
    """``agent_config_schema()`` as the text of the published file."""
    return json.dumps(agent_config_schema(), indent=2) + "\n"


def write_agent_config_schema(path: Path = SCHEMA_PATH) -> Path:
    """Regenerate the published schema file (``python -m lllm.core.spec`` calls this)."""
    path.write_text(agent_config_schema_text(), encoding="utf-8")
    return path


__all__ = [
    "AgentSpec",
    "KNOWN_AGENT_KEYS",
    "SCHEMA_PATH",
    "agent_config_schema",
    "agent_config_schema_text",
    "check_config_shape",
    "check_seconds",
    "deep_merge",
    "misspelled_agent_key",
    "parse_agent_configs",
    "write_agent_config_schema",
]

if __name__ == "__main__":  # python -m lllm.core.spec [PATH]
    import sys

    print(f"wrote {write_agent_config_schema(*(Path(a) for a in sys.argv[1:2]))}")
