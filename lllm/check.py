"""``lllm check``: load a package and report, before any model call, what would fail later.

Checked: files that did not load; configs (their ``base`` chain, field types, misspelled agent keys);
each tactic's config and agents; tool references and implementation-less tool declarations (the
key they bind to); tactic tools' configs; and template variables of agents' system prompts, which a
tactic must pass to ``agent.open(alias, prompt_args)``."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from lllm.packages.runtime import Runtime

ERROR, WARNING, NOTE = "error", "warning", "note"


@dataclass(frozen=True)
class Problem:
    """One finding: ``level`` is error (will fail), warning (probably wrong) or note (worth knowing)."""

    level: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


def check_runtime(rt: Any, package: Optional[str] = None) -> List[Problem]:
    """Every problem found in ``rt`` (only resources of ``package`` when given), errors first."""
    found: List[Problem] = []
    for check in (_configs, _tactics, _prompts):
        found.extend(check(rt, package))
    order = {ERROR: 0, WARNING: 1, NOTE: 2}
    return sorted(dict.fromkeys(found), key=lambda p: order[p.level])


def _nodes(rt: Any, kind: str, package: Optional[str]) -> Iterator[Any]:
    for node in rt.iter_nodes(kind):
        if package is None or node.namespace.partition(".")[0] == package:
            yield node


def _failure(e: BaseException) -> str:
    return str(e) if str(e) else type(e).__name__


def _configs(rt: Any, package: Optional[str]) -> Iterator[Problem]:
    from lllm.packages.config import KNOWN_AGENT_KEYS, misspelled_agent_key, resolve_config
    from lllm.packages.tool_binding import resolve_tool_ref

    for node in _nodes(rt, "config", package):
        where = f"config {node.qualified_key}"
        try:
            config = resolve_config(node.qualified_key, runtime=rt)
        except Exception as e:  # noqa: BLE001 - every failure is a finding
            yield Problem(ERROR, where, _failure(e))
            continue
        pkg = node.namespace.partition(".")[0] or None
        for name, entry in _agent_entries(config):
            for key in sorted(set(entry) - KNOWN_AGENT_KEYS - {"name"}):
                close = misspelled_agent_key(key)
                if close:
                    yield Problem(ERROR, f"{where}, agent {name}", f"unknown key '{key}': did you mean '{close}'?")
                else:
                    yield Problem(
                        NOTE,
                        f"{where}, agent {name}",
                        f"unknown key '{key}' is passed to the model as a model_args entry",
                    )
            for ref in entry.get("tools") or []:
                if not isinstance(ref, str) or _is_proxy(rt, ref):
                    continue
                try:
                    resolve_tool_ref(ref, rt, pkg, f"{where}, agent {name}")
                except Exception as e:  # noqa: BLE001
                    message = _failure(e).removeprefix(f"{where}, agent {name}: ")  # the place is said once
                    yield Problem(ERROR, f"{where}, agent {name}", message)


def _is_proxy(rt: Any, ref: str) -> bool:
    try:
        return ".proxies:" in ref or rt.has(ref, "proxy")
    except Exception:  # noqa: BLE001 - not a valid key: let the tool check report it
        return False


def _agent_entries(config: Dict[str, Any]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    found = config.get("global")
    glob: Dict[str, Any] = found if isinstance(found, dict) else {}
    for entry in config.get("agent_configs") or []:
        if isinstance(entry, dict):
            yield entry.get("name", "?"), {**glob, **entry}
    for name, entry in (config.get("agent_group_configs") or {}).items():
        if isinstance(entry, dict):
            yield name, {**glob, **entry}


def _tactics(rt: Any, package: Optional[str]) -> Iterator[Problem]:
    from lllm.core.tactic_tools import build_tactic_function, find_tactic_config, tactic_tools
    from lllm.packages.config import parse_agent_configs

    for node in _nodes(rt, "tactic", package):
        where = f"tactic {node.qualified_key}"
        try:
            cls = node.value
        except Exception as e:  # noqa: BLE001
            yield Problem(ERROR, where, f"does not load: {_failure(e)}")
            continue
        group = list(getattr(cls, "agent_group", None) or [])
        pkg = node.namespace.partition(".")[0] or None
        config: Optional[Dict[str, Any]] = None
        try:
            config = find_tactic_config(rt, pkg, node.key, needs_config=bool(group), label=node.qualified_key)
        except Exception as e:  # noqa: BLE001
            yield Problem(ERROR, where, _failure(e))
        if config is not None and group:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # unknown keys are reported with the config
                    specs = parse_agent_configs(config, group, cls.name)
            except Exception as e:  # noqa: BLE001
                yield Problem(ERROR, where, _failure(e))
            else:
                yield from _system_prompt_variables(where, specs, rt)
        for tool_name in tactic_tools(cls):
            ref = f"{node.qualified_key}#{tool_name}"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    build_tactic_function(ref, runtime=rt)
            except Exception as e:  # noqa: BLE001
                yield Problem(ERROR, f"{where}, tactic tool '{tool_name}'", _failure(e))


def _system_prompt_variables(where: str, specs: Dict[str, Any], rt: Any) -> Iterator[Problem]:
    for name, spec in specs.items():
        try:
            names = sorted(spec.resolve_system_prompt(rt).template_vars)
        except Exception as e:  # noqa: BLE001
            yield Problem(ERROR, f"{where}, agent {name}", f"system prompt: {_failure(e)}")
            continue
        if names:
            yield Problem(
                NOTE,
                f"{where}, agent {name}",
                f"the system prompt needs {names}: the tactic must pass them as "
                f"agent.open(alias, {{{', '.join(repr(n) + ': ...' for n in names)}}})",
            )


def _prompts(rt: Any, package: Optional[str]) -> Iterator[Problem]:
    for node in _nodes(rt, "prompt", package):
        try:
            node.value.resolve_functions(rt)
        except Exception as e:  # noqa: BLE001
            yield Problem(ERROR, f"prompt {node.qualified_key}", _failure(e))


def _load(target: Optional[str]) -> "Tuple[Runtime, Optional[str], List[Problem]]":
    """(runtime, package name or None, load warnings) for ``lllm check [PACKAGE]``."""
    from lllm.packages.runtime import Runtime

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if target is not None and Path(target).exists():
            from lllm.packages.discovery import load_shared_packages, load_trusted_package
            from lllm.packages.trust import env_flag

            rt = Runtime("check")
            info, is_project = load_trusted_package(target, rt)  # checking loads, and so runs, the package's code
            name = info.name if info is not None else None
            if is_project and env_flag("LLLM_AUTO_SHARED_PACKAGES"):  # it runs with the installed packages
                load_shared_packages(rt)  # the project's root: the default
        else:
            from lllm.cli import project_runtime

            rt = project_runtime()
            name = target
            if name is not None and name not in rt.packages:
                from lllm.cli import CLIError

                raise CLIError(
                    f"No package '{name}' is loaded (packages: {sorted(rt.packages)}). Pass a package "
                    f"name or the path of its folder or lllm.toml."
                )
    loaded = [
        Problem(_load_level(w), "loading", str(w.message))
        for w in caught
        if not issubclass(w.category, DeprecationWarning)
    ]
    return rt, name, loaded


def _load_level(w: Any) -> str:
    """A file that did not load is an error; an untrusted package left out on purpose is a warning."""
    if "LLLM_TRUSTED_PACKAGES" in str(w.message) or not issubclass(w.category, RuntimeWarning):
        return WARNING
    return ERROR


def cmd_check(args: argparse.Namespace) -> int:
    rt, package, problems = _load(args.package)
    problems = problems + check_runtime(rt, package)
    if args.json:
        print(json.dumps([asdict(p) for p in problems], indent=2))
    else:
        for p in problems:
            print(p)
        errors = sum(p.level == ERROR for p in problems)
        scope = f"package '{package}'" if package else f"{len(rt.packages)} package(s)"
        print(
            f"{errors} error(s), {sum(p.level == WARNING for p in problems)} warning(s), "
            f"{sum(p.level == NOTE for p in problems)} note(s) in {scope}",
            file=sys.stderr,
        )
    return 1 if any(p.level == ERROR for p in problems) else 0


def register(sub: Any) -> None:
    """Add ``check`` to the ``lllm`` command."""
    p = sub.add_parser(
        "check",
        help="load a package and report problems before any model call",
        description="Load a package (by name, or the path of its folder) and report what would fail "
        "later: files that did not load, configs, tactics without a config, unbound tool "
        "keys, tactic tools, misspelled agent keys, system-prompt variables. Exits 1 if "
        "any error is found.",
    )
    p.add_argument("package", nargs="?", help="package name or folder (default: every loaded package)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(func=cmd_check)


__all__ = ["Problem", "check_runtime", "register", "ERROR", "WARNING", "NOTE"]
