"""Config files: ``base`` inheritance, vendoring and profiles (§7), and the merge rules they share.

An agent's declaration (``AgentSpec``, ``parse_agent_configs``, the JSON Schema) is core's and lives in
``lllm.core.spec``; its names are importable from here and from ``lllm.core.config`` as in 0.1.x."""

from __future__ import annotations

import copy
import logging
from typing import Any, Dict, List, Optional, TypeGuard

from lllm.core.spec import (
    KNOWN_AGENT_KEYS,
    AgentSpec,
    agent_config_schema,
    check_config_shape,
    check_seconds,
    deep_merge,
    misspelled_agent_key,
    parse_agent_configs,
)
from lllm.errors import ConfigError, ResourceNotFoundError
from lllm.packages.runtime import Runtime, get_default_runtime

logger = logging.getLogger("lllm.config")


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


# ---------------------------------------------------------------------------------------------
# Named configs: inheritance, vendoring, profiles (§7)
# ---------------------------------------------------------------------------------------------


def _runtime(runtime: Optional[Runtime]) -> Runtime:
    return runtime or get_default_runtime()


def _config_node(name: str, rt: Any, package: Optional[str] = None) -> Any:
    """The config node for ``name``, tried in ``package`` first when the name has no ':'."""
    if package and ":" not in name:
        node = rt.find_node(f"{package}.configs:{name}", "config")
        if node is not None:
            return node
    return rt.get_node(name, "config")


def load_config(name: str, runtime: Optional[Runtime] = None) -> Any:
    """The raw config registered under ``name`` (a copy: ``base`` is not followed)."""
    return copy.deepcopy(_runtime(runtime).get(name, "config"))


def _where(node: Any, of: str = "") -> str:
    """``Config 'key' (file)``, naming the file the config was read from when there is one."""
    file = node.metadata.get("file_path") if isinstance(getattr(node, "metadata", None), dict) else None
    return f"Config '{node.qualified_key}'" + (f" (base of '{of}')" if of else "") + (f" ({file})" if file else "")


def _resolve_chain(
    data: Dict[str, Any], label: str, package: Optional[str], rt: Any, chain: List[str], where: str = ""
) -> Dict[str, Any]:
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
        raise ResourceNotFoundError(
            f"Config '{label}': base {e.message}", key=e.key, suggestions=e.suggestions
        ) from None
    key = node.qualified_key
    if key in chain:
        raise ValueError("Config inheritance cycle: " + " -> ".join([*chain, key]))
    pkg = node.namespace.partition(".")[0] or None
    return merge_configs(_resolve_chain(node.value, key, pkg, rt, [*chain, key], _where(node, label)), own)


def resolve_config(name: str, runtime: Optional[Runtime] = None) -> Dict[str, Any]:
    """The config ``name`` with its ``base`` chain followed (the child's package first) and merged under it.

    The result is a new dict without ``base``. A cycle raises ``ValueError`` showing the chain; a config
    whose fields have the wrong shape raises ``ConfigError`` naming its file and the field."""
    rt = _runtime(runtime)
    node = rt.get_node(name, "config")
    key = node.qualified_key
    return _resolve_chain(node.value, key, node.namespace.partition(".")[0] or None, rt, [key], _where(node))


def vendor_config(
    source: "str | Dict[str, Any]", overrides: Optional[Dict[str, Any]] = None, *, runtime: Optional[Runtime] = None
) -> Dict[str, Any]:
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


def resolve_profile(
    default: str = "default", *, env_var: str = "LLLM_CONFIG_PROFILE", runtime: Optional[Runtime] = None
) -> Dict[str, Any]:
    """``resolve_config(os.environ.get(env_var, default))``; an unknown profile lists the configs."""
    import os

    rt = _runtime(runtime)
    name = os.environ.get(env_var) or default
    if not rt.has(name, "config"):
        raise ResourceNotFoundError(
            f"Unknown config profile '{name}' (from ${env_var} or the default "
            f"'{default}'). Configs: {rt.keys('config')}",
            key=name,
        )
    return resolve_config(name, runtime=rt)


__all__ = [
    "AgentSpec",
    "deep_merge",
    "merge_configs",
    "misspelled_agent_key",
    "parse_agent_configs",
    "check_config_shape",
    "check_seconds",
    "KNOWN_AGENT_KEYS",
    "load_config",
    "resolve_config",
    "vendor_config",
    "resolve_profile",
    "agent_config_schema",
]

from lllm.lazy import lazy_exports as _lazy_exports  # noqa: E402 - 0.1.x names kept here

__getattr__ = _lazy_exports(
    __name__,
    {
        "find_config_file": "lllm.packages.manifest",
        "load_toml": "lllm.compat",
        "load_package": "lllm.packages.discovery",
        "load_cwd_fallback": "lllm.packages.discovery",
    },
)
