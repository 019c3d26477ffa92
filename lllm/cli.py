"""The ``lllm`` command: run a tactic, list the loaded resources, manage packages.

Each command group registers its own sub-parser, so other modules can plug in theirs (the session
store adds ``lllm.logging.cli.register``). Heavy imports happen inside the commands, which keeps
``lllm --help`` fast. Errors print ``Error: <message>`` on stderr and exit 1; usage errors exit 2."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

# Provider keys whose presence means "a real model can be called"; without any, `lllm run` goes offline.
PROVIDER_KEYS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GROQ_API_KEY",
    "MISTRAL_API_KEY",
    "OPENROUTER_API_KEY",
    "DEEPSEEK_API_KEY",
    "TOGETHER_API_KEY",
    "XAI_API_KEY",
    "FIREWORKS_API_KEY",
    "AZURE_API_KEY",
    "GEMINI_API_KEY",
)
OFFLINE_NOTICE = (
    "No provider key is set ({keys}), no --model was given and the config names no endpoint "
    "(base_url): running offline on LLLM's deterministic test model (model='test'). Set a key, "
    "a base_url or pass --model for a real run."
)

PLUGINS = ("lllm.logging.cli", "lllm.check", "lllm.scaffold", "lllm.ui.cli", "lllm.serve.cli", "lllm.eval.cli")


class CLIError(Exception):
    """A user-facing failure: printed as ``Error: <message>``, exit status 1."""


def project_runtime() -> Any:
    """The default runtime, filled from the project (the CLI defers auto-init until a command needs it).
    Loading that failed (a broken manifest, or any problem under ``LLLM_STRICT``) is an error, never a
    silently partial runtime."""
    import warnings

    from lllm.packages.runtime import ensure_auto_init

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LLLM auto-init failed")  # reported once, as the error below
        rt = ensure_auto_init()
    if rt.init_error:
        raise CLIError(f"Loading the project and its packages failed: {rt.init_error}")
    return rt


# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------


def _run_config(rt: Any, node: Any, name: Optional[str]) -> Dict[str, Any]:
    from lllm.core.tactic_tools import find_tactic_config
    from lllm.errors import ConfigError

    pkg = node.namespace.partition(".")[0] or None
    try:
        return find_tactic_config(
            rt,
            pkg,
            node.key,
            name,
            needs_config=bool(getattr(node.value, "agent_group", None)),
            label=node.qualified_key,
        )
    except ConfigError as e:
        raise CLIError(str(e)) from None


def with_model(config: Dict[str, Any], model: str) -> Dict[str, Any]:
    """``config`` with every agent on ``model`` (global and per-agent ``model_name``)."""
    from lllm.packages.config import deep_merge

    out = deep_merge(config, {"global": {"model_name": model}})
    for entry in out.get("agent_configs") or []:
        if isinstance(entry, dict) and "model_name" in entry:
            entry["model_name"] = model
    for entry in (out.get("agent_group_configs") or {}).values():
        if isinstance(entry, dict) and "model_name" in entry:
            entry["model_name"] = model
    return out


# Config keys and environment variables that name an endpoint; a configured one is reachable without a key
# (a local Ollama, vLLM or LM Studio server needs none).
ENDPOINT_KEYS = ("base_url", "api_base")
ENDPOINT_ENV = ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OPENAI_API_BASE")


def configured_endpoint(config: Optional[Dict[str, Any]]) -> Optional[str]:
    """The first base URL the config (``global``, ``invoker_config``, any agent's ``model_args``) or the
    environment names, or ``None``."""

    def find(value: Any) -> Optional[str]:
        if isinstance(value, dict):
            for k, v in value.items():
                if k in ENDPOINT_KEYS and isinstance(v, str) and v.strip():
                    return v
                if k not in ("system_prompt", "tools", "function_list"):
                    hit = find(v)
                    if hit:
                        return hit
        elif isinstance(value, list):
            for v in value:
                hit = find(v)
                if hit:
                    return hit
        return None

    return find(config or {}) or next((os.environ[k] for k in ENDPOINT_ENV if os.environ.get(k)), None)


def offline_model(
    explicit: Optional[str], config: Optional[Dict[str, Any]] = None, tactic: Any = None
) -> Optional[str]:
    """``'test'`` when no model was given, no provider key is set and neither ``config`` nor the tactic's
    code (a ``@tactic``'s agents) names an endpoint (a configured base URL counts as reachable: keyless
    local servers are normal); otherwise ``explicit``."""
    if (
        explicit is None
        and not any(os.environ.get(k) for k in PROVIDER_KEYS)
        and not configured_endpoint(config)
        and not (getattr(tactic, "configured_endpoint", None) and tactic.configured_endpoint())
    ):
        return "test"
    return explicit


def tactic_config(rt: Any, tactic: str, config_name: Optional[str], model: Optional[str]) -> Tuple[Any, Dict[str, Any]]:
    """The tactic's node and the config to run it with: ``--config`` (or its own), every agent on
    ``--model``, or on the offline test model (saying so) when no provider key is set."""
    node = rt.get_node(tactic, "tactic")
    config = _run_config(rt, node, config_name)
    chosen = offline_model(model, config, node.value)
    if chosen == "test" and model is None:
        print(OFFLINE_NOTICE.format(keys=", ".join(PROVIDER_KEYS[:2]) + ", ..."), file=sys.stderr)
    if chosen is not None and config:
        config = with_model(config, chosen)
    return node, config


def cmd_run(args: argparse.Namespace) -> int:
    import json

    from lllm.core.jsonable import to_json_safe
    from lllm.core.tactic import build_tactic, use_model

    rt = project_runtime()
    node, config = tactic_config(rt, args.tactic, args.config, args.model)
    task = sys.stdin.read() if args.task == "-" else args.task
    store = None
    if not args.no_save:
        from lllm.logging.cli import open_store, parse_tags

        store = open_store(args.store, runtime=rt)
    try:
        tactic = build_tactic(config, name=node.qualified_key, runtime=rt, log_store=store)
        with use_model(offline_model(args.model, config, node.value)):  # tactic tools and sub-tactics too
            session = tactic(task, return_session=True, tags=parse_tags(args.tag) if store else None)
    finally:
        if store is not None:  # main() may run in-process: the store's file must not outlive the command
            store.close()
    result = session.delivery
    cost = session.total_cost
    if args.json:
        print(
            json.dumps(
                {"tactic": node.qualified_key, "result": to_json_safe(result), "summary": session.summary()},
                indent=2,
                default=str,
            )
        )
        return 0
    value = to_json_safe(result)
    print(value if isinstance(value, str) else json.dumps(value, indent=2))
    calls = session.agent_call_count
    print(
        f"{calls} agent call{'' if calls == 1 else 's'}, {cost.prompt_tokens} prompt + {cost.completion_tokens} "
        f"completion tokens, ${cost.cost:.6f}" + (f"; session {session.session_id}" if session.session_id else ""),
        file=sys.stderr,
    )
    return 0


# ---------------------------------------------------------------------------------------------
# list
# ---------------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    rt = project_runtime()
    groups: Dict[str, List[str]] = {}
    for node in rt.iter_nodes():
        section = node.namespace.partition(".")[2] or node.resource_type
        groups.setdefault(section, []).append(node.qualified_key)
    if args.section is not None:
        if args.section not in groups:
            raise CLIError(f"No resources in section '{args.section}'. Sections: {sorted(groups)}")
        groups = {args.section: groups[args.section]}
    if not groups:
        print("No resources loaded (no lllm.toml found from the current folder, and no installed package loaded).")
        return 0
    for section in sorted(groups):
        keys = sorted(groups[section])
        print(f"{section} ({len(keys)})")
        for key in keys:
            print(f"  {key}")
    return 0


# ---------------------------------------------------------------------------------------------
# pkg
# ---------------------------------------------------------------------------------------------


def cmd_pkg_install(args: argparse.Namespace) -> int:
    from lllm.packages.install import install_package

    path = install_package(args.zip, alias=args.alias, scope=args.scope, load=not args.no_load)
    print(f"Installed {path.name} to {path}")
    return 0


def cmd_pkg_list(args: argparse.Namespace) -> int:
    from lllm.packages.install import list_packages

    rows = list_packages(args.scope)
    if not rows:
        print("No packages installed.")
        return 0
    table = [("NAME", "VERSION", "SCOPE", "PATH")] + [
        (r["name"], r["version"] or "-", r["scope"], r["path"]) for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
    return 0


def cmd_pkg_remove(args: argparse.Namespace) -> int:
    from lllm.packages.install import remove_package

    path = remove_package(args.name, scope=args.scope)
    print(f"Removed {args.name} from {path}")
    return 0


def cmd_pkg_export(args: argparse.Namespace) -> int:
    from lllm.packages.install import export_package
    from lllm.packages.runtime import Runtime

    # found by its manifest in the project or among installed packages: exporting never runs package code
    path = export_package(args.name, args.out, bundle_deps=args.bundle_deps, runtime=Runtime("export"))
    print(f"Exported {args.name} to {path}")
    return 0


# ---------------------------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------------------------


def _register_run(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run a tactic on a task",
        description=(
            "Run a tactic of the loaded project on TASK and print its result. Without --config the tactic's "
            "package config named like the tactic, else 'default', is used. Without a provider key and "
            "without --model the run is offline on the deterministic test model."
        ),
    )
    p.add_argument("tactic", metavar="TACTIC_URL", help="e.g. travel_brief.tactics:travel_brief (or a bare name)")
    p.add_argument("task", metavar="TASK", help="the task: text, or JSON for tactics with a typed input ('-': stdin)")
    p.add_argument("--config", metavar="NAME", help="config key (resolved with its base chain)")
    p.add_argument("--model", metavar="M", help="model for every agent, e.g. gpt-4o-mini or test")
    p.add_argument("--json", action="store_true", help="print one JSON document with the result and a summary")
    p.add_argument(
        "--store",
        help="save the session here: a .db file (SQLite) or a folder (default: $LLLM_STORE or .lllm/sessions.db)",
    )
    p.add_argument("--no-save", action="store_true", help="do not record the session")
    p.add_argument("--tag", action="append", metavar="KEY=VALUE", help="tag the recorded session (repeatable)")
    p.set_defaults(func=cmd_run)


def _register_list(sub: Any) -> None:
    p = sub.add_parser(
        "list",
        help="list the resources of the loaded runtime",
        description="List resource keys of the project (and installed packages) by section.",
    )
    p.add_argument("section", nargs="?", help="only this section: prompts, tools, tactics, configs, proxies, ...")
    p.set_defaults(func=cmd_list)


def _register_pkg(sub: Any) -> None:
    pkg = sub.add_parser(
        "pkg",
        help="install, list, remove and export packages",
        description="Manage installed packages (user scope: $LLLM_HOME/packages, "
        "project scope: <project>/lllm_packages).",
    )
    pkg_sub = pkg.add_subparsers(dest="pkg_command", metavar="COMMAND")
    pkg.set_defaults(func=lambda args: pkg.print_help() or 0)  # bare `lllm pkg` prints help, as in 0.1.x
    p = pkg_sub.add_parser(
        "install",
        help="install a package zip",
        description=(
            "Install a package from a zip. Installing checks the archive and copies its files; no package code "
            "runs until the package is loaded, and a package that LLLM_TRUSTED_PACKAGES leaves out is not loaded."
        ),
    )
    p.add_argument("zip", help="the package archive")
    p.add_argument("--alias", help="install under this package name instead")
    p.add_argument("--scope", choices=("user", "project"), default="user")
    p.add_argument("--no-load", action="store_true", help="do not load (import) the package after installing it")
    p.set_defaults(func=cmd_pkg_install)
    p = pkg_sub.add_parser("list", help="list installed packages", description="List installed packages.")
    p.add_argument("--scope", choices=("user", "project"))
    p.set_defaults(func=cmd_pkg_list)
    p = pkg_sub.add_parser("remove", help="remove an installed package", description="Remove an installed package.")
    p.add_argument("name", help="package or folder name")
    p.add_argument("--scope", choices=("user", "project"))
    p.set_defaults(func=cmd_pkg_remove)
    p = pkg_sub.add_parser(
        "export", help="export a loaded package to a zip", description="Export a loaded package to a zip archive."
    )
    p.add_argument("name", help="package name (as loaded from the project or installed)")
    p.add_argument("out", help="output path ('.zip' is added if missing)")
    p.add_argument("--bundle-deps", action="store_true", help="include its dependencies in lllm_packages/")
    p.set_defaults(func=cmd_pkg_export)


def build_parser() -> argparse.ArgumentParser:
    from lllm import __version__

    parser = argparse.ArgumentParser(prog="lllm", description="LLLM: run tactics and manage LLLM packages.")
    parser.add_argument("--version", action="version", version=f"lllm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in (_register_run, _register_list, _register_pkg):
        register(sub)
    for module in PLUGINS:  # other command groups plug in here: a module with register(subparsers)
        if not os.path.exists(os.path.join(os.path.dirname(__file__), *module.split(".")[1:]) + ".py"):
            continue  # checked first: importing a missing plug-in would still import its package
        try:
            register = importlib.import_module(module).register
        except (ImportError, AttributeError):
            continue
        register(sub)
    return parser


def _message(e: BaseException) -> str:
    if type(e) is KeyError and e.args:  # a plain KeyError would print its repr
        return str(e.args[0])
    return str(e) or type(e).__name__


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    print(f"Warning: {message}", file=sys.stderr)


def _store_project(args: argparse.Namespace) -> bool:
    """Run from outside a project on a store inside one (``<project>/.lllm/sessions.db``): load that project,
    as if run from its folder, so replay, fork, eval and the browser find its tactics. Only when the cwd has
    no manifest of its own and ``$LLLM_CONFIG`` is unset; said on stderr. True when it set ``$LLLM_CONFIG``."""
    store = getattr(args, "store", None)
    if not isinstance(store, str) or "://" in store or os.environ.get("LLLM_CONFIG"):
        return False
    from lllm.packages.manifest import find_config_file, manifest_in

    if find_config_file() is not None:
        return False
    for folder in Path(store).expanduser().resolve().parents:
        if folder.name == ".lllm":
            manifest = manifest_in(folder.parent)
            if manifest is None:
                return False
            os.environ["LLLM_CONFIG"] = str(manifest)
            print(f"lllm: loading the project at {folder.parent} (the store's project)", file=sys.stderr)
            return True
    return False


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors exit 2
    set_config = _store_project(args)
    import warnings

    warnings.showwarning = _show_warning
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except (CLIError, Exception) as e:  # noqa: BLE001 - every failure becomes one readable line
        print(f"Error: {_message(e)}", file=sys.stderr)
        return 1
    finally:
        if set_config:  # main() called in-process (tests, embedders): leave the environment as it was
            os.environ.pop("LLLM_CONFIG", None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
